import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compile } from '../../../src/dataplane/compiler/compile.js';
import { diffTables } from '../../../src/dataplane/compiler/diff.js';
import { observeTable } from '../../../src/dataplane/compiler/observe.js';
import {
  DataplaneInputError,
  type DataplaneGuard,
  type DataplaneService,
} from '../../../src/dataplane/types.js';
import { fromState, run, sameAs } from './nftsim.js';

const TCP80 = { port: 80, protocol: 'TCP', targetPort: 8080 } as const;
const UDP53 = { port: 53, protocol: 'UDP', targetPort: 5353 } as const;

const svc = (over: Partial<DataplaneService> = {}): DataplaneService => ({
  name: 'ns/web',
  addresses: ['10.200.0.1', 'FD00:200::1'],
  ports: [TCP80, UDP53],
  mode: 'fullnat',
  algorithm: 'roundrobin',
  endpoints: [
    { address: '10.1.0.1', weight: 1, state: 'active' },
    { address: 'fd00:1::1', weight: 1, state: 'active' },
  ],
  ...over,
});

const guard = (over: Partial<DataplaneGuard> = {}): DataplaneGuard => ({
  name: 'ns/n2',
  addresses: ['10.200.9.1', '10.200.9.2'],
  ports: [{ port: 38412, protocol: 'SCTP' }],
  sourceRanges: ['10.201.1.0/24'],
  endpoints: ['10.201.2.2'],
  ...over,
});

const elements = (c: ReturnType<typeof compile>, set: string) =>
  [...(c.state.maps.get(set)?.elements.keys() ?? [])].sort();

describe('source ranges in the compiled table', () => {
  it('restricted and allowed sets per family, merged ranges, one filter rule per family in prerouting and output', () => {
    const c = compile([
      svc({ sourceRanges: ['10.201.1.0/24', '10.201.1.128/25', '192.0.2.9/32', 'FD01:1::/64'] }),
    ]);
    assert.deepEqual(elements(c, 'srcr4'), ['10.200.0.1 . tcp . 80', '10.200.0.1 . udp . 53']);
    assert.deepEqual(elements(c, 'srca4'), [
      '10.200.0.1 . tcp . 80 . 10.201.1.0/24', // the /25 inside it is merged away: nft refuses overlaps
      '10.200.0.1 . tcp . 80 . 192.0.2.9',
      '10.200.0.1 . udp . 53 . 10.201.1.0/24',
      '10.200.0.1 . udp . 53 . 192.0.2.9',
    ]);
    assert.deepEqual(elements(c, 'srcr6'), ['fd00:200::1 . tcp . 80', 'fd00:200::1 . udp . 53']);
    assert.deepEqual(elements(c, 'srca6'), [
      'fd00:200::1 . tcp . 80 . fd01:1::/64',
      'fd00:200::1 . udp . 53 . fd01:1::/64',
    ]);
    assert.match(
      c.state.maps.get('srca6')!.decl,
      /^type ipv6_addr \. inet_proto \. inet_service \. ipv6_addr; flags interval;$/,
    );
    const pre = c.state.chains.get('srcpre')!;
    const out = c.state.chains.get('srcout')!;
    assert.equal(pre.hook, 'filter prerouting -160 accept');
    assert.equal(out.hook, 'filter output -160 accept');
    assert.deepEqual(
      pre.rules.map((r) => r.text),
      [
        'ct state new ip daddr . meta l4proto . th dport @srcr4 ip daddr . meta l4proto . th dport . ip saddr != @srca4 counter name srcdrop4 drop',
        'ct state new ip6 daddr . meta l4proto . th dport @srcr6 ip6 daddr . meta l4proto . th dport . ip6 saddr != @srca6 counter name srcdrop6 drop',
      ],
    );
    assert.deepEqual(out.rules, pre.rules);
    assert.deepEqual([...c.state.counters.keys()].sort(), ['srcdrop4', 'srcdrop6']);
    assert.equal(c.state.chains.has('guardpre'), false);
  });

  it('strict per family: IPv4 ranges only refuse every IPv6 client; a /0 allows its whole family', () => {
    const c = compile([svc({ sourceRanges: ['0.0.0.0/0'] })]);
    assert.deepEqual(elements(c, 'srca4'), [
      '10.200.0.1 . tcp . 80 . 0.0.0.0/0',
      '10.200.0.1 . udp . 53 . 0.0.0.0/0',
    ]);
    assert.equal(elements(c, 'srcr6').length, 2, 'the IPv6 VIP is restricted …');
    assert.equal(elements(c, 'srca6').length, 0, '… and nobody is allowed on it');
    const six = compile([svc({ sourceRanges: ['::/0', '10.201.1.2/32'] })]);
    assert.deepEqual(elements(six, 'srca6'), [
      'fd00:200::1 . tcp . 80 . ::/0',
      'fd00:200::1 . udp . 53 . ::/0',
    ]);
  });

  it('absent or empty ranges: no filter chain or set at all (nothing per packet); drop counters stay', () => {
    for (const c of [compile([svc()]), compile([svc({ sourceRanges: [] })])]) {
      for (const n of ['srcpre', 'srcout', 'guardpre']) assert.equal(c.state.chains.has(n), false, n);
      for (const n of ['srcr4', 'srca4', 'srcr6', 'srca6']) assert.equal(c.state.maps.has(n), false, n);
      assert.deepEqual([...c.state.counters.keys()].sort(), ['srcdrop4', 'srcdrop6']);
    }
    // Only the restricted service's ports are in the sets.
    const mixed = compile([
      svc({ sourceRanges: ['10.0.0.0/8'] }),
      svc({ name: 'open', addresses: ['10.200.0.2'] }),
    ]);
    assert.deepEqual(elements(mixed, 'srcr4'), ['10.200.0.1 . tcp . 80', '10.200.0.1 . udp . 53']);
  });

  it('counters: false drops the counter objects and the rules’ counter statements', () => {
    const c = compile([svc({ sourceRanges: ['10.0.0.0/8'] })], { counters: false });
    assert.equal(c.state.counters.size, 0);
    for (const r of c.state.chains.get('srcpre')!.rules) assert.doesNotMatch(r.text, /counter/);
  });

  it('a bad range is refused naming the service, sourceRanges and the value', () => {
    const bad = (s: DataplaneService, re: RegExp) =>
      assert.throws(
        () => compile([s]),
        (e: unknown) => e instanceof DataplaneInputError && e.field === 'sourceRanges' && re.test(e.message),
      );
    bad(
      svc({ sourceRanges: ['10.0.0.0/8', '10.0.0.0/40'] }),
      /service "ns\/web": sourceRanges = "10.0.0.0\/40"/,
    );
    bad(svc({ sourceRanges: ['10.0.0.1'] }), /sourceRanges = "10.0.0.1": not a CIDR/);
    bad(svc({ sourceRanges: '10.0.0.0/8' as unknown as string[] }), /not a list/);
  });

  it('guards (SCTP engine services): stateless chain before the engine’s raw fast path, endpoints allowed', () => {
    const c = compile([svc()], {}, [guard({ sourceRanges: ['10.201.1.0/24', 'fd01:1::/64'] })]);
    const g = c.state.chains.get('guardpre')!;
    assert.equal(g.hook, 'filter prerouting -310 accept');
    assert.equal(
      g.rules[0]!.text,
      'ip daddr . meta l4proto . th dport @guardr4 ip daddr . meta l4proto . th dport . ip saddr != @guarda4 counter name srcdrop4 drop',
    );
    assert.doesNotMatch(g.rules[1]!.text, /\bct\b/);
    assert.deepEqual(elements(c, 'guardr4'), ['10.200.9.1 . sctp . 38412', '10.200.9.2 . sctp . 38412']);
    assert.deepEqual(elements(c, 'guarda4'), [
      '10.200.9.1 . sctp . 38412 . 10.201.1.0/24',
      '10.200.9.1 . sctp . 38412 . 10.201.2.2',
      '10.200.9.2 . sctp . 38412 . 10.201.1.0/24',
      '10.200.9.2 . sctp . 38412 . 10.201.2.2',
    ]);
    assert.equal(c.state.chains.has('srcpre'), false, 'no tracked service has ranges');
    assert.deepEqual(c.addresses, ['10.200.0.1', 'fd00:200::1'], 'guard VIPs are the engine’s to plumb');
    // An endpoint inside a range merges with it (interval sets refuse overlaps).
    const inside = compile([], {}, [guard({ endpoints: ['10.201.1.7'] })]);
    assert.deepEqual(elements(inside, 'guarda4'), [
      '10.200.9.1 . sctp . 38412 . 10.201.1.0/24',
      '10.200.9.2 . sctp . 38412 . 10.201.1.0/24',
    ]);
    assert.equal(compile([], {}, [guard({ sourceRanges: [] })]).state.chains.has('guardpre'), false);
  });

  it('guards are validated and may not claim a port a service owns', () => {
    const bad = (g: DataplaneGuard, re: RegExp, s: DataplaneService[] = []) =>
      assert.throws(
        () => compile(s, {}, [g]),
        (e: unknown) => e instanceof DataplaneInputError && re.test(e.message),
      );
    bad(guard({ addresses: ['10.200.9.300'] }), /service "ns\/n2": address = "10.200.9.300"/);
    bad(guard({ endpoints: ['x'] }), /endpoints = "x"/);
    bad(guard({ ports: [{ port: 0, protocol: 'SCTP' }] }), /ports.port = 0/);
    bad(guard({ sourceRanges: ['10.0.0.0/99'] }), /sourceRanges = "10.0.0.0\/99"/);
    bad(
      guard({ addresses: ['10.200.0.1'], ports: [{ port: 53, protocol: 'UDP' }] }),
      /service "ns\/n2": ports = "10.200.0.1 . udp . 53": already used by service "ns\/web"/,
      [svc()],
    );
  });
});

describe('source ranges: diff', () => {
  const many = (n: number, ranges: (i: number) => string[] | undefined) =>
    Array.from({ length: n }, (_, i) =>
      svc({ name: `svc-${i}`, addresses: [`10.200.0.${i + 1}`], ports: [TCP80], sourceRanges: ranges(i) }),
    );

  it('changing one service’s ranges is element deletes then adds in srca only — overlapping old and new included', () => {
    const a = compile(many(50, () => ['10.201.1.0/24'])).state;
    const b = compile(
      many(50, (i) => (i === 6 ? ['10.201.0.0/16', '10.9.0.0/16'] : ['10.201.1.0/24'])),
    ).state;
    const tx = diffTables(a, b);
    assert.equal(tx.full, false);
    assert.deepEqual(tx.script.trim().split('\n'), [
      'delete element inet ferrolb srca4 { 10.200.0.7 . tcp . 80 . 10.201.1.0/24 }',
      'add element inet ferrolb srca4 { 10.200.0.7 . tcp . 80 . 10.9.0.0/16, 10.200.0.7 . tcp . 80 . 10.201.0.0/16 }',
    ]);
    // The simulator refuses overlapping interval elements like the kernel: deletes must come first.
    assert.equal(sameAs(run(fromState(a), tx.script), b), undefined);
  });

  it('the first restricted service creates chains and sets; removing the last one deletes them, after their rules', () => {
    const open = compile(many(3, () => undefined)).state;
    const one = compile(many(3, (i) => (i === 1 ? ['10.201.1.0/24'] : undefined))).state;
    const up = diffTables(open, one);
    assert.match(up.script, /^add set inet ferrolb srca4 \{ type .*; flags interval; \}$/m);
    assert.match(
      up.script,
      /^add chain inet ferrolb srcpre \{ type filter hook prerouting priority -160; policy accept; \}$/m,
    );
    for (const line of up.script.trim().split('\n'))
      assert.match(line, /^add \w+ inet ferrolb (srcr[46]|srca[46]|srcpre|srcout) /, 'nothing else touched');
    assert.equal(sameAs(run(fromState(open), up.script), one), undefined);
    const down = diffTables(one, open);
    assert.equal(sameAs(run(fromState(one), down.script), open), undefined);
    const lines = down.script.trim().split('\n');
    assert.ok(
      lines.indexOf('flush chain inet ferrolb srcpre') < lines.indexOf('delete set inet ferrolb srca4'),
    );
    assert.equal(diffTables(open, open).statements, 0);
  });

  const RANGE_POOL = [
    '10.201.1.0/24',
    '10.201.1.128/25',
    '10.201.0.0/16',
    '0.0.0.0/0',
    '10.201.1.2/32',
    'fd01:1::/64',
    'fd01:1::2/128',
    '::/0',
    '10.201.1.4/30',
  ];
  const statesArb = fc
    .tuple(
      fc.array(fc.option(fc.subarray(RANGE_POOL), { nil: undefined }), { minLength: 1, maxLength: 4 }),
      fc.option(fc.subarray(RANGE_POOL), { nil: undefined }),
      fc.subarray(['10.201.1.9', '10.201.2.2', 'fd01:1::9']),
    )
    .map(([rs, gr, eps]) => ({
      services: rs.map((sourceRanges, i) =>
        svc({ name: `s${i}`, addresses: [`10.200.0.${i + 1}`, `fd00:200::${i + 1}`], sourceRanges }),
      ),
      guards: [guard({ sourceRanges: gr, endpoints: eps })],
    }));

  it('property: diff(a, b) applied to a gives b with no overlapping element ever in the kernel; diff(b, b) is empty', () => {
    fc.assert(
      fc.property(statesArb, statesArb, (x, y) => {
        const a = compile(x.services, {}, x.guards).state;
        const b = compile(y.services, {}, y.guards).state;
        assert.equal(sameAs(run(fromState(a), diffTables(a, b).script), b), undefined);
        assert.equal(sameAs(run(undefined, diffTables(undefined, b).script), b), undefined);
        assert.equal(diffTables(b, b).statements, 0);
      }),
      { numRuns: 150 },
    );
  });
});

describe('source ranges: reading the kernel back', () => {
  // `nft -j list table` shapes of interval elements and named counters, as 1.0.6 prints them (captured
  // on the test bed): a prefix object, a range object, a bare address for a host, ::/0 as a prefix.
  const dump = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      { table: { family: 'inet', name: 'ferrolb', handle: 1 } },
      {
        counter: {
          family: 'inet',
          name: 'srcdrop4',
          table: 'ferrolb',
          handle: 2,
          comment: 'dropped by source range (IPv4)',
          packets: 3,
          bytes: 180,
        },
      },
      {
        set: {
          family: 'inet',
          name: 'srca4',
          table: 'ferrolb',
          type: ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'],
          handle: 4,
          flags: ['interval'],
          elem: [
            { concat: ['10.200.0.1', 'tcp', 80, { prefix: { addr: '10.201.1.0', len: 24 } }] },
            { concat: ['10.200.0.1', 'tcp', 80, '192.0.2.9'] },
            { concat: ['10.200.0.1', 'tcp', 80, { range: ['10.0.0.1', '10.0.0.5'] }] },
          ],
        },
      },
      {
        set: {
          family: 'inet',
          name: 'srca6',
          table: 'ferrolb',
          type: ['ipv6_addr', 'inet_proto', 'inet_service', 'ipv6_addr'],
          handle: 5,
          flags: ['interval'],
          elem: [{ concat: ['fd00:200::1', 'tcp', 80, { prefix: { addr: '::', len: 0 } }] }],
        },
      },
      {
        chain: {
          family: 'inet',
          table: 'ferrolb',
          name: 'srcpre',
          handle: 6,
          type: 'filter',
          hook: 'prerouting',
          prio: -160,
          policy: 'accept',
        },
      },
    ],
  });

  it('observed interval elements, hooks and counters equal the compiled ones', () => {
    const seen = observeTable(dump, 'ferrolb');
    const c = compile([
      svc({
        ports: [TCP80],
        sourceRanges: ['10.201.1.0/24', '192.0.2.9/32', '10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '::/0'],
      }),
    ]).state;
    for (const set of ['srca4', 'srca6']) {
      assert.deepEqual([...seen.maps.get(set)!.elements].sort(), [...c.maps.get(set)!.elements].sort(), set);
      assert.equal(seen.maps.get(set)!.sig, c.maps.get(set)!.sig);
    }
    assert.equal(seen.chains.get('srcpre')!.hook, c.chains.get('srcpre')!.hook);
    assert.equal(seen.counters.get('srcdrop4'), c.counters.get('srcdrop4'));
  });
});
