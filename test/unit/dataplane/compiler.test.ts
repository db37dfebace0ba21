import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compile } from '../../../src/dataplane/compiler/compile.js';
import { diffTables } from '../../../src/dataplane/compiler/diff.js';
import { servicePortId } from '../../../src/dataplane/compiler/names.js';
import { DataplaneInputError, type DataplaneService } from '../../../src/dataplane/types.js';
import { fromState, run, sameAs } from './nftsim.js';
import { maglevSizeFor } from '../../../src/dataplane/selection/index.js';

const ALGS = ['roundrobin', 'weighted', 'hash', 'maglev', 'leastconn', 'persist'] as const;
const EP_POOL = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', 'fd00:1::1', 'fd00:1::2'];
const PORTS = [
  { port: 80, protocol: 'TCP', targetPort: 8080 },
  { port: 53, protocol: 'UDP', targetPort: 5353 },
  { port: 38412, protocol: 'SCTP', targetPort: 38412 },
  { port: 443, protocol: 'TCP', targetPort: 443 },
] as const;

/** Random but valid desired states: service i owns VIPs 10.200.0.i / fd00:200::i. */
const servicesArb: fc.Arbitrary<DataplaneService[]> = fc
  .array(
    fc.record({
      algorithm: fc.constantFrom(...ALGS),
      mode: fc.constantFrom('default' as const, 'fullnat' as const),
      v6: fc.boolean(),
      ports: fc.subarray([...PORTS], { minLength: 1 }),
      endpoints: fc.subarray(EP_POOL).chain((addrs) =>
        fc.tuple(
          ...addrs.map((address) =>
            fc.record({
              address: fc.constant(address),
              weight: fc.integer({ min: 0, max: 5 }),
              state: fc.constantFrom('active' as const, 'inactive' as const, 'unknown' as const),
              connections: fc.integer({ min: 0, max: 20 }),
            }),
          ),
        ),
      ),
    }),
    { maxLength: 4 },
  )
  .map((specs) =>
    specs.map((s, i) => ({
      name: `ns/svc-${i}`,
      addresses: s.v6 ? [`10.200.0.${i + 1}`, `fd00:200::${i + 1}`] : [`10.200.0.${i + 1}`],
      ports: s.ports,
      mode: s.mode,
      algorithm: s.algorithm,
      endpoints: s.endpoints,
    })),
  );

const opts = { maglevTableSize: 251 };

describe('nft compiler and diff', () => {
  it('a full script builds exactly the compiled table, with every reference valid when made', () => {
    fc.assert(
      fc.property(servicesArb, (svcs) => {
        const c = compile(svcs, opts);
        const tx = diffTables(undefined, c.state);
        assert.equal(tx.full, true);
        assert.equal(sameAs(run(undefined, tx.script), c.state), undefined);
      }),
      { numRuns: 60 },
    );
  });

  it('diff(a, b) applied to a gives b, deletes nothing still referenced, and diff(b, b) is empty', () => {
    fc.assert(
      fc.property(servicesArb, servicesArb, (a, b) => {
        const ca = compile(a, opts).state;
        const cb = compile(b, opts).state;
        const tx = diffTables(ca, cb);
        assert.equal(sameAs(run(fromState(ca), tx.script), cb), undefined);
        assert.equal(diffTables(cb, cb).statements, 0);
        assert.equal(diffTables(cb, cb).script, '');
      }),
      { numRuns: 100 },
    );
  });

  it('one endpoint changing state touches only that service port’s objects', () => {
    const svc = (i: number, state: 'active' | 'inactive'): DataplaneService => ({
      name: `svc-${i}`,
      addresses: [`10.200.0.${i}`],
      ports: [PORTS[0]],
      mode: 'fullnat',
      algorithm: 'maglev',
      endpoints: [
        { address: '10.1.0.1', weight: 1, state: 'active' },
        { address: '10.1.0.2', weight: 1, state },
      ],
    });
    const before = compile(
      Array.from({ length: 50 }, (_, i) => svc(i + 1, 'active')),
      opts,
    ).state;
    const after = compile(
      Array.from({ length: 50 }, (_, i) => svc(i + 1, i === 6 ? 'inactive' : 'active')),
      opts,
    ).state;
    const tx = diffTables(before, after);
    const id = servicePortId('svc-7', 'TCP', 80, 4);
    assert.ok(tx.statements > 0 && !tx.full);
    for (const line of tx.script.trim().split('\n')) {
      // Its own chain, or elements of a shared slot map keyed by its own VIP — nothing else.
      const own =
        line.includes(id) ||
        /^(add|delete) element inet ferrolb slots4tcp_\d+ \{ 10\.200\.0\.7 \. /.test(line);
      assert.ok(own, `unrelated statement: ${line.slice(0, 120)}`);
      if (line.includes(' element '))
        assert.doesNotMatch(line, /10\.200\.0\.(?!7 )\d+ \./, 'other VIPs untouched');
    }
    // Maglev: only the leaving endpoint's slots are rewritten (≈ half of 251 here), never all.
    const rewritten = (tx.script.match(/ : 10\.1\.0\.1 \. 8080/g) ?? []).length;
    assert.ok(rewritten > 90 && rewritten < 160, `${rewritten} slots rewritten`);
  });

  it('dispatch: one element per address, protocol and port; services may share an address on other ports', () => {
    const c = compile([
      {
        name: 'a',
        addresses: ['10.200.0.1', 'FD00:200::0001'],
        ports: [PORTS[0], PORTS[1]],
        mode: 'fullnat',
        algorithm: 'roundrobin',
        snatAddresses: ['10.9.9.9'],
        endpoints: [
          { address: '10.1.0.1', weight: 1, state: 'active' },
          { address: 'fd00:1::1', weight: 1, state: 'active' },
        ],
      },
      {
        name: 'b',
        addresses: ['10.200.0.1'],
        ports: [PORTS[3]],
        mode: 'default',
        algorithm: 'hash',
        endpoints: [{ address: '10.1.0.2', weight: 1, state: 'active' }],
      },
    ]);
    const svc4 = c.state.maps.get('svc4')!.elements;
    assert.deepEqual([...svc4.keys()].sort(), [
      '10.200.0.1 . tcp . 443',
      '10.200.0.1 . tcp . 80',
      '10.200.0.1 . udp . 53',
    ]);
    assert.deepEqual([...c.state.maps.get('svc6')!.elements.keys()].sort(), [
      'fd00:200::1 . tcp . 80',
      'fd00:200::1 . udp . 53',
    ]);
    // fullnat: the given IPv4 SNAT address; IPv6 falls back to the service address. Default mode: none.
    assert.equal(c.state.maps.get('snat4')!.elements.get('10.200.0.1 . tcp . 80'), '10.9.9.9');
    assert.equal(c.state.maps.get('snat6')!.elements.get('fd00:200::1 . udp . 53'), 'fd00:200::1');
    assert.equal(c.state.maps.get('snat4')!.elements.has('10.200.0.1 . tcp . 443'), false);
    assert.deepEqual(new Set(c.addresses), new Set(['10.200.0.1', 'fd00:200::1']));
  });

  it('only active endpoints with weight > 0 get slots; every listed endpoint keeps a counter', () => {
    const c = compile([
      {
        name: 'w',
        addresses: ['10.200.0.1'],
        ports: [PORTS[0]],
        mode: 'default',
        algorithm: 'weighted',
        endpoints: [
          { address: '10.1.0.1', weight: 3, state: 'active' },
          { address: '10.1.0.2', weight: 1, state: 'inactive' },
          { address: '10.1.0.3', weight: 1, state: 'unknown' },
          { address: '10.1.0.4', weight: 0, state: 'active' },
          { address: '10.1.0.5', weight: 1, state: 'active' },
        ],
      },
    ]);
    const id = servicePortId('w', 'TCP', 80, 4);
    const rule = c.state.chains.get(`s_${id}`)!.rules[0]!.text;
    assert.match(rule, /numgen inc mod 4 map @slots4tcp_\d+$/);
    const map = c.state.maps.get(rule.split('@')[1]!)!;
    const slots = [...map.elements].filter(([k]) => k.startsWith('10.200.0.1 . 80 . ')).map(([, v]) => v);
    assert.deepEqual(slots.sort(), [
      '10.1.0.1 . 8080',
      '10.1.0.1 . 8080',
      '10.1.0.1 . 8080',
      '10.1.0.5 . 8080',
    ]);
    const epCounters = [...c.counters.values()].filter((r) => r.endpoint);
    assert.deepEqual(epCounters.map((r) => r.endpoint).sort(), [
      '10.1.0.1',
      '10.1.0.2',
      '10.1.0.3',
      '10.1.0.4',
      '10.1.0.5',
    ]);
    assert.equal(c.state.maps.get('epcnt4')!.elements.size, 5);
  });

  it('no active endpoint: the selection chain is empty (traffic falls through to the node)', () => {
    const c = compile([
      {
        name: 'e',
        addresses: ['10.200.0.1'],
        ports: [PORTS[0]],
        mode: 'default',
        algorithm: 'maglev',
        endpoints: [{ address: '10.1.0.1', weight: 1, state: 'inactive' }],
      },
    ]);
    assert.equal(c.state.chains.get(`s_${servicePortId('e', 'TCP', 80, 4)}`)!.rules.length, 0);
  });

  it('rejects bad input naming the service, field and value', () => {
    const base: DataplaneService = {
      name: 's',
      addresses: ['10.200.0.1'],
      ports: [PORTS[0]],
      mode: 'default',
      algorithm: 'roundrobin',
      endpoints: [],
    };
    const bad = (svcs: DataplaneService[], re: RegExp) =>
      assert.throws(
        () => compile(svcs),
        (e: unknown) => e instanceof DataplaneInputError && re.test(e.message),
      );
    bad([{ ...base, addresses: ['10.200.0.300'] }], /service "s": address = "10.200.0.300"/);
    bad([{ ...base, ports: [{ port: 0, protocol: 'TCP', targetPort: 1 }] }], /ports.port = 0/);
    bad(
      [base, { ...base, name: 't' }],
      /service "t": ports = "10.200.0.1 . tcp . 80": already used by service "s"/,
    );
    bad([base, base], /duplicate service name/);
    bad(
      [
        {
          ...base,
          endpoints: [
            { address: '10.1.0.1', weight: 1, state: 'active' },
            { address: '10.1.0.1', weight: 2, state: 'active' },
          ],
        },
      ],
      /duplicate endpoint/,
    );
    bad([{ ...base, endpoints: [{ address: '10.1.0.1', weight: -1, state: 'active' }] }], /weight = -1/);
    bad([{ ...base, algorithm: 'persist', persistTimeoutSeconds: 0 }], /persistTimeoutSeconds/);
  });

  it('maglev tables agree whatever order the endpoints arrive in (consistency across instances)', () => {
    const eps = ['10.1.0.3', '10.1.0.1', '10.1.0.2'].map((address) => ({
      address,
      weight: 1,
      state: 'active' as const,
    }));
    const mk = (e: typeof eps) =>
      compile([
        {
          name: 'm',
          addresses: ['10.200.0.1'],
          ports: [PORTS[0]],
          mode: 'default',
          algorithm: 'maglev',
          endpoints: e,
        },
      ]);
    assert.equal(diffTables(mk(eps).state, mk([...eps].reverse()).state).statements, 0);
  });

  it('maglevTableSize per service: M slots in the kernel for that service alone; bad sizes are refused', () => {
    const svc = (name: string, i: number, maglevTableSize?: number) => ({
      name,
      addresses: [`10.200.0.${i}`],
      ports: [PORTS[0]],
      mode: 'default' as const,
      algorithm: 'maglev' as const,
      endpoints: ['10.1.0.1', '10.1.0.2'].map((address) => ({
        address,
        weight: 1,
        state: 'active' as const,
      })),
      ...(maglevTableSize !== undefined ? { maglevTableSize } : {}),
    });
    const c = compile([svc('small', 1, 61), svc('dflt', 2)]);
    const slots = (vip: string) =>
      [...c.state.maps.values()]
        .flatMap((m) => [...m.elements.keys()])
        .filter((k) => k.startsWith(`${vip} . 80 . `)).length;
    assert.equal(slots('10.200.0.1'), 61);
    assert.equal(slots('10.200.0.2'), maglevSizeFor(2));
    assert.throws(() => compile([svc('x', 3, 60)]), /maglevTableSize/);
    assert.throws(() => compile([svc('x', 3, 1)]), /maglevTableSize/);
  });

  it('persist: per-endpoint affinity sets with the timeout, looked up before a weighted pick', () => {
    const c = compile([
      {
        name: 'p',
        addresses: ['fd00:200::1'],
        ports: [PORTS[0]],
        mode: 'default',
        algorithm: 'persist',
        persistTimeoutSeconds: 42,
        endpoints: [
          { address: 'fd00:1::1', weight: 1, state: 'active' },
          { address: 'fd00:1::2', weight: 1, state: 'inactive' },
        ],
      },
    ]);
    const id = servicePortId('p', 'TCP', 80, 6);
    const rules = c.state.chains.get(`s_${id}`)!.rules.map((r) => r.text);
    assert.equal(rules.length, 2, 'one affinity rule (active endpoint) + the pick');
    assert.match(rules[0]!, /^ip6 saddr @a_.* goto e_/);
    assert.match(rules[1]!, /^numgen inc mod 1 vmap @v_/);
    const sets = [...c.state.maps.values()].filter((m) => m.name.startsWith(`a_${id}`));
    assert.equal(sets.length, 2, 'inactive endpoints keep their affinity set');
    for (const s of sets) assert.match(s.decl, /timeout 42s/);
  });
});
