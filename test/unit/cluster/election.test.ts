import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { elect, hasQuorum, ownedBy, type ElectionInput } from '../../../src/cluster/election.js';
import type { L2Candidate } from '../../../src/cluster/contract.js';

const NODES = ['lb1', 'lb2', 'lb3', 'lb4', 'lb5'];

const arbInput = fc
  .record({
    addresses: fc.uniqueArray(fc.integer({ min: 1, max: 250 }), { minLength: 0, maxLength: 60 }),
    eligibility: fc.array(fc.subarray(NODES, { minLength: 1 }), { minLength: 60, maxLength: 60 }),
    members: fc.subarray(NODES),
    claims: fc.array(fc.subarray(NODES), { minLength: 60, maxLength: 60 }),
  })
  .map(({ addresses, eligibility, members, claims }): ElectionInput => {
    const candidates = new Map<string, L2Candidate>();
    const claimSets = new Map<string, Set<string>>();
    addresses.forEach((n, i) => {
      const address = `10.0.0.${n}`;
      candidates.set(address, { address, interfaces: [], nodes: [...(eligibility[i] ?? NODES)].sort() });
      for (const c of claims[i] ?? []) {
        if (!claimSets.has(c)) claimSets.set(c, new Set());
        claimSets.get(c)?.add(address);
      }
    });
    return { candidates, members: new Set(members), claims: claimSets };
  });

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const cand = (n: number, nodes = ['lb1', 'lb2', 'lb3']): L2Candidate => ({
  address: `10.0.${Math.floor(n / 250)}.${(n % 250) + 1}`,
  interfaces: [],
  nodes,
});
const candidates = (count: number, nodes?: string[]) =>
  new Map(Array.from({ length: count }, (_, i) => cand(i, nodes)).map((c) => [c.address, c]));

describe('owner election', () => {
  it('is the same on every node: input order does not matter', () => {
    fc.assert(
      fc.property(arbInput, fc.integer(), (input, seed) => {
        const a = elect(input);
        const b = elect({
          candidates: new Map(shuffled([...input.candidates], seed)),
          members: new Set(shuffled([...input.members], seed + 1)),
          claims: new Map(shuffled([...input.claims], seed + 2)),
        });
        assert.deepEqual([...b].sort(), [...a].sort());
      }),
    );
  });

  it('gives every address an eligible member, or null when it has none', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const r = elect(input);
        assert.equal(r.size, input.candidates.size);
        for (const [a, c] of input.candidates) {
          const eligible = c.nodes.filter((n) => input.members.has(n));
          const owner = r.get(a);
          if (eligible.length === 0) assert.equal(owner, null);
          else assert.ok(owner && eligible.includes(owner), `${a} → ${owner}`);
        }
      }),
    );
  });

  it('is sticky: an eligible member that alone claims an address keeps it; conflicts go to a claimant', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const r = elect(input);
        for (const [a, c] of input.candidates) {
          const claimants = c.nodes.filter((n) => input.members.has(n) && input.claims.get(n)?.has(a));
          if (claimants.length === 1) assert.equal(r.get(a), claimants[0]);
          if (claimants.length > 1) assert.ok(claimants.includes(r.get(a) as string));
        }
      }),
    );
  });

  it('is a fixed point: electing again with the result as claims changes nothing', () => {
    fc.assert(
      fc.property(arbInput, (input) => {
        const r = elect(input);
        const claims = new Map([...input.members].map((m) => [m, ownedBy(r, m)]));
        assert.deepEqual([...elect({ ...input, claims })].sort(), [...r].sort());
      }),
    );
  });

  it('a returning or new member takes zero addresses back', () => {
    fc.assert(
      fc.property(arbInput, fc.constantFrom(...NODES), (input, newcomer) => {
        const before = new Set([...input.members].filter((m) => m !== newcomer));
        const r = elect({ ...input, members: before });
        const claims = new Map([...before].map((m) => [m, ownedBy(r, m)]));
        const after = elect({
          candidates: input.candidates,
          members: new Set([...before, newcomer]),
          claims,
        });
        for (const [a, owner] of r) if (owner !== null) assert.equal(after.get(a), owner, `${a} moved`);
      }),
    );
  });

  it('when a member dies only its addresses move', () => {
    fc.assert(
      fc.property(arbInput, fc.constantFrom(...NODES), (input, dead) => {
        const r = elect(input);
        const claims = new Map([...input.members].map((m) => [m, ownedBy(r, m)]));
        const members = new Set([...input.members].filter((m) => m !== dead));
        const after = elect({ candidates: input.candidates, members, claims });
        for (const [a, owner] of r) if (owner !== null && owner !== dead) assert.equal(after.get(a), owner);
        for (const [a, owner] of after) if (owner !== null) assert.ok(members.has(owner), a);
      }),
    );
  });

  it('spreads unclaimed addresses evenly in expectation (rendezvous) when every node is eligible', () => {
    for (const n of [2, 3, 5]) {
      const nodes = NODES.slice(0, n);
      const r = elect({ candidates: candidates(3000, nodes), members: new Set(nodes), claims: new Map() });
      // 3000 / n each, within 10 % (the binomial spread is ~2 % here).
      for (const m of nodes) {
        const got = ownedBy(r, m).size;
        assert.ok(Math.abs(got - 3000 / n) < 300 / n, `${n} nodes: ${m} owns ${got}`);
      }
    }
  });

  it("after a death the dead node's addresses spread over the survivors", () => {
    const nodes = ['lb1', 'lb2', 'lb3'];
    const c = candidates(3000, nodes);
    const r = elect({ candidates: c, members: new Set(nodes), claims: new Map() });
    const claims = new Map(nodes.map((m) => [m, ownedBy(r, m)]));
    const after = elect({ candidates: c, members: new Set(['lb1', 'lb2']), claims });
    const lost = ownedBy(r, 'lb3').size;
    for (const m of ['lb1', 'lb2']) {
      const gained = ownedBy(after, m).size - ownedBy(r, m).size;
      assert.ok(Math.abs(gained - lost / 2) < lost / 10, `${m} gained ${gained} of ${lost}`);
    }
    assert.equal(ownedBy(after, 'lb3').size, 0);
  });

  it('handles 10,000 addresses', () => {
    const nodes = ['lb1', 'lb2', 'lb3'];
    const r = elect({ candidates: candidates(10_000, nodes), members: new Set(nodes), claims: new Map() });
    assert.equal(
      nodes.reduce((n, m) => n + ownedBy(r, m).size, 0),
      10_000,
    );
  });

  // Two nodes B and C decide at the same moment on views that differ the way real ones do: a third
  // node is a member for one of them only (it just synced, or just died for one), and B has taken
  // addresses by the rule that C has not heard about yet. Neither may take what the other takes.
  it('two nodes that count each other as members never both own an address, whatever else their views differ in', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.subarray(NODES, { maxLength: 1 }), { minLength: 60, maxLength: 60 }),
        fc.subarray(['lb3', 'lb4', 'lb5']),
        fc.subarray(['lb3', 'lb4', 'lb5']),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        (n, held, thirdB, thirdC, inFlight) => {
          const c = candidates(n, NODES);
          const addrs = [...c.keys()];
          const claims = new Map(NODES.map((m) => [m, new Set<string>()]));
          addrs.forEach((a, i) => {
            for (const m of held[i] ?? []) claims.get(m)?.add(a);
          });
          // In flight: B took an address nobody held, by the rule, among B and C at least.
          const bNew = new Set(
            addrs.filter(
              (a, i) =>
                inFlight[i] &&
                held[i]?.length === 0 &&
                elect({
                  candidates: new Map([[a, c.get(a)!]]),
                  members: new Set(['lb1', 'lb2', ...thirdB]),
                  claims: new Map(),
                }).get(a) === 'lb1',
            ),
          );
          const viewB = new Map(claims);
          viewB.set('lb1', new Set([...(claims.get('lb1') ?? []), ...bNew]));
          const b = elect({ candidates: c, members: new Set(['lb1', 'lb2', ...thirdB]), claims: viewB });
          const cv = elect({ candidates: c, members: new Set(['lb1', 'lb2', ...thirdC]), claims });
          for (const a of addrs)
            assert.ok(!(b.get(a) === 'lb1' && cv.get(a) === 'lb2'), `${a}: both lb1 and lb2 own it`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('quorum: a strict majority from three nodes on; one or two nodes always', () => {
    assert.equal(hasQuorum(1, 1), true);
    assert.equal(hasQuorum(1, 2), true);
    assert.equal(hasQuorum(1, 3), false);
    assert.equal(hasQuorum(2, 3), true);
    assert.equal(hasQuorum(2, 4), false);
    assert.equal(hasQuorum(3, 4), true);
    assert.equal(hasQuorum(3, 5), true);
  });
});
