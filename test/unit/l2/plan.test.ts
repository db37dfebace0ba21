import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  diffIsEmpty,
  diffKernel,
  emptyKernel,
  intV6,
  nftScript,
  pairKey,
  parseLinks,
  parseNftTables,
  planKernel,
  proxyBatch,
  v6Int,
  type Link,
} from '../../../src/l2/plan.js';
import type { L2Candidate } from '../../../src/cluster/contract.js';

const link = (name: string, index: number, extra: Partial<Link> = {}): [string, Link] => [
  name,
  { name, index, mac: `02:00:00:00:00:0${index}`, up: true, enslaved: false, ether: true, ...extra },
];
const links = new Map([
  link('lo', 1, { ether: false }),
  link('ferrolb0', 2),
  link('eth0', 3),
  link('eth1', 4, { up: false }),
  link('br0', 5),
  link('port0', 6, { enslaved: true }),
]);
const cand = (address: string, interfaces: string[] = []): [string, L2Candidate] => [
  address,
  { address, interfaces, nodes: ['a', 'b'] },
];

describe('L2 kernel plan', () => {
  it('non-owners filter every candidate; the owner allows its own, per interface or everywhere', () => {
    const cands = new Map([
      cand('10.0.0.1'),
      cand('10.0.0.2', ['eth0', 'eth9']),
      cand('fd00::1'),
      cand('fd00::2'),
    ]);
    const none = planKernel(cands, new Map(), links);
    assert.deepEqual([...none.kernel.cand4].sort(), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual([...none.kernel.cand6].sort(), ['fd00::1', 'fd00::2']);
    assert.equal(
      none.kernel.ownedAny4.size +
        none.kernel.ownedIf4.size +
        none.kernel.owned6.size +
        none.kernel.proxy6.size,
      0,
    );
    const p = planKernel(
      cands,
      new Map([
        ['10.0.0.1', []],
        ['10.0.0.2', ['eth0', 'eth9']],
        ['fd00::1', []],
      ]),
      links,
    );
    assert.deepEqual([...p.kernel.ownedAny4], ['10.0.0.1']);
    assert.deepEqual([...p.kernel.ownedIf4].sort(), [
      pairKey('eth0', '10.0.0.2'),
      pairKey('eth9', '10.0.0.2'),
    ]);
    // "Every interface": not lo, not ferrolb0, not a bridge port; a down link holds the entry but is not announced on.
    assert.deepEqual(
      [...p.kernel.proxy6].sort(),
      ['br0', 'eth0', 'eth1'].map((i) => pairKey(i, 'fd00::1')),
    );
    assert.deepEqual(p.owned.get('fd00::1'), { address: 'fd00::1', links: ['br0', 'eth0'], missing: [] });
    assert.deepEqual(p.owned.get('10.0.0.2'), { address: '10.0.0.2', links: ['eth0'], missing: ['eth9'] });
  });

  it('diff + script: candidates by difference, owned sets rewritten whole with a timeout', () => {
    const a = planKernel(
      new Map([cand('10.0.0.1'), cand('fd00::1')]),
      new Map([['10.0.0.1', []]]),
      links,
    ).kernel;
    const b = planKernel(
      new Map([cand('10.0.0.2'), cand('fd00::1')]),
      new Map([['fd00::1', ['eth0']]]),
      links,
    ).kernel;
    const d = diffKernel(a, b);
    assert.ok(d.ownedChanged);
    const script = nftScript(d, b, false, 2000).split('\n');
    assert.deepEqual(script, [
      'add element arp ferrolb_l2 cand4 { 10.0.0.2 }',
      'flush set arp ferrolb_l2 owned_any4',
      'flush set arp ferrolb_l2 owned_if4',
      'flush set ip6 ferrolb_l2 owned6',
      `add element ip6 ferrolb_l2 owned6 { ${v6Int('fd00::1')} timeout 2000ms }`,
      'delete element arp ferrolb_l2 cand4 { 10.0.0.1 }',
    ]);
    assert.deepEqual(proxyBatch(d), ['neigh replace proxy fd00::1 dev eth0']);
    assert.ok(diffIsEmpty(diffKernel(b, b)));
    assert.equal(nftScript(diffKernel(b, b), b, false, 2000), '');
    assert.match(nftScript(diffKernel(b, b), b, true, 2000), /flush set ip6 ferrolb_l2 owned6/);
  });

  it('applying any diff to the old state gives the new one', () => {
    const addr = fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1', 'fd00::2');
    const state = fc.record({
      c: fc.uniqueArray(addr),
      o: fc.uniqueArray(fc.tuple(addr, fc.subarray(['eth0', 'eth1'])), { selector: (x) => x[0] }),
    });
    fc.assert(
      fc.property(state, state, (x, y) => {
        const k = (s: typeof x) => planKernel(new Map(s.c.map((a) => cand(a))), new Map(s.o), links).kernel;
        const from = k(x);
        const to = k(y);
        const d = diffKernel(from, to);
        for (const key of Object.keys(from) as (keyof typeof from)[]) {
          const got = new Set([...from[key]].filter((e) => !d.remove[key].has(e)));
          for (const e of d.add[key]) got.add(e);
          assert.deepEqual([...got].sort(), [...to[key]].sort(), key);
        }
      }),
    );
  });

  it('reads the kernel back: nft JSON (timeouts, concatenations, 128-bit targets), links', () => {
    const json = JSON.stringify({
      nftables: [
        { set: { family: 'arp', name: 'cand4', table: 'ferrolb_l2', elem: ['10.0.0.1'] } },
        {
          set: {
            family: 'arp',
            name: 'owned_any4',
            table: 'ferrolb_l2',
            elem: [{ elem: { val: '10.0.0.1', timeout: 2, expires: 1 } }],
          },
        },
        {
          set: {
            family: 'arp',
            name: 'owned_if4',
            table: 'ferrolb_l2',
            elem: [{ elem: { val: { concat: ['eth0', '10.0.0.2'] }, timeout: 2 } }],
          },
        },
        { set: { family: 'ip6', name: 'cand6', table: 'ferrolb_l2', elem: [v6Int('fd00::1')] } },
        { set: { family: 'ip6', name: 'owned6', table: 'other', elem: [v6Int('fd00::9')] } },
        { rule: { family: 'arp', table: 'ferrolb_l2', chain: 'input' } },
      ],
    });
    const r = parseNftTables(json);
    const want = emptyKernel();
    want.cand4.add('10.0.0.1');
    want.ownedAny4.add('10.0.0.1');
    want.ownedIf4.add(pairKey('eth0', '10.0.0.2'));
    want.cand6.add('fd00::1');
    assert.deepEqual(r.kernel, want);
    assert.deepEqual(r.rules, { 'arp input': 1 });
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
        const hex = `0x${v.toString(16).padStart(32, '0')}`;
        assert.equal(v6Int(intV6(hex)), hex);
      }),
    );
    const l = parseLinks(
      JSON.stringify([
        {
          ifindex: 3,
          ifname: 'eth0',
          flags: ['BROADCAST', 'UP'],
          link_type: 'ether',
          address: '02:00:00:00:00:03',
        },
        {
          ifindex: 4,
          ifname: 'p0',
          flags: [],
          link_type: 'ether',
          address: '02:00:00:00:00:04',
          master: 'br0',
        },
      ]),
    );
    assert.deepEqual(l.get('eth0'), {
      name: 'eth0',
      index: 3,
      mac: '02:00:00:00:00:03',
      up: true,
      enslaved: false,
      ether: true,
    });
    assert.equal(l.get('p0')?.enslaved, true);
  });
});
