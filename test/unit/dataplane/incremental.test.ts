import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compile } from '../../../src/dataplane/compiler/compile.js';
import { deltaTransaction, diffTables, splitScript } from '../../../src/dataplane/compiler/diff.js';
import { IncrementalCompiler } from '../../../src/dataplane/compiler/incremental.js';
import {
  DataplaneInputError,
  type DataplaneGuard,
  type DataplaneService,
} from '../../../src/dataplane/types.js';
import { fromState, run, sameAs } from './nftsim.js';

const ALGS = ['roundrobin', 'weighted', 'hash', 'maglev', 'leastconn', 'persist'] as const;
const EP_POOL = ['10.1.0.1', '10.1.0.2', '10.1.0.3', 'fd00:1::1', 'fd00:1::2'];
const PORTS = [
  { port: 80, protocol: 'TCP', targetPort: 8080 },
  { port: 53, protocol: 'UDP', targetPort: 5353 },
  { port: 443, protocol: 'TCP', targetPort: 443 },
] as const;
const RANGES = ['10.201.1.0/24', '10.201.0.0/16', '0.0.0.0/0', 'fd01:1::/64', '10.201.1.4/30'];
const NAMES = ['a', 'b', 'c', 'd', 'e'];

/** One service spec; the same name keeps its VIPs, so successive states overlap like real changes. */
const serviceArb = (name: string, i: number): fc.Arbitrary<DataplaneService> =>
  fc
    .record({
      algorithm: fc.constantFrom(...ALGS),
      mode: fc.constantFrom('default' as const, 'fullnat' as const),
      v6: fc.boolean(),
      ports: fc.subarray([...PORTS], { minLength: 1 }),
      persist: fc.constantFrom(undefined, 60, 300),
      ranges: fc.option(fc.subarray(RANGES), { nil: undefined }),
      snat: fc.boolean(),
      endpoints: fc.subarray(EP_POOL).chain((addrs) =>
        fc.tuple(
          ...addrs.map((address) =>
            fc.record({
              address: fc.constant(address),
              weight: fc.integer({ min: 0, max: 3 }),
              state: fc.constantFrom('active' as const, 'inactive' as const, 'unknown' as const),
            }),
          ),
        ),
      ),
    })
    .map((s) => ({
      name,
      addresses: s.v6 ? [`10.200.0.${i + 1}`, `fd00:200::${i + 1}`] : [`10.200.0.${i + 1}`],
      ports: s.ports,
      mode: s.mode,
      algorithm: s.algorithm,
      endpoints: s.endpoints,
      ...(s.persist !== undefined ? { persistTimeoutSeconds: s.persist } : {}),
      ...(s.ranges !== undefined ? { sourceRanges: s.ranges } : {}),
      ...(s.snat && s.mode === 'fullnat' ? { snatAddresses: ['10.250.0.1'] } : {}),
    }));

/**
 * A desired state: a subset of the names, each either the previous step's service (unchanged, as a
 * copy so only equality, not identity, can tell) or a new random spec; sometimes a guard.
 */
type Step = {
  keep: boolean[];
  fresh: DataplaneService[];
  present: boolean[];
  guard: boolean;
  clash: boolean;
  /** Whether the update records its delta (the applier turns it off when it will diff whole). */
  track: boolean;
};
const stepArb: fc.Arbitrary<Step> = fc.record({
  keep: fc.array(fc.boolean(), { minLength: NAMES.length, maxLength: NAMES.length }),
  fresh: fc.tuple(...NAMES.map((n, i) => serviceArb(n, i))),
  present: fc.array(fc.boolean(), { minLength: NAMES.length, maxLength: NAMES.length }),
  guard: fc.boolean(),
  clash: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
  track: fc.integer({ min: 0, max: 4 }).map((x) => x !== 0),
});

const guard: DataplaneGuard = {
  name: 'g',
  addresses: ['10.200.9.1'],
  ports: [{ port: 38412, protocol: 'SCTP' }],
  sourceRanges: ['10.201.1.0/24'],
  endpoints: ['10.201.2.2'],
};

function next(
  prev: Map<string, DataplaneService>,
  s: Step,
): { services: DataplaneService[]; guards: DataplaneGuard[] } {
  const services: DataplaneService[] = [];
  NAMES.forEach((n, i) => {
    if (!s.present[i]) return;
    const old = prev.get(n);
    services.push(s.keep[i] && old ? structuredClone(old) : s.fresh[i]!);
  });
  // Sometimes an input the compiler must refuse: a second owner of a VIP's port.
  if (s.clash && services.length > 0) services.push({ ...structuredClone(services[0]!), name: 'clash' });
  return { services, guards: s.guard ? [guard] : [] };
}

const opts = { maglevTableSize: 251 };

describe('incremental compiler', () => {
  it('property: after any sequence of changes, the cached compile equals a fresh compile, and the delta transaction turns the old table into the new one', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 8 }), (steps) => {
        const inc = new IncrementalCompiler(opts);
        let kernel = run(undefined, diffTables(undefined, inc.state).script);
        let last = new Map<string, DataplaneService>();
        let lastFresh = compile([], opts);
        for (const step of steps) {
          const { services, guards } = next(last, step);
          let fresh: ReturnType<typeof compile> | undefined;
          try {
            fresh = compile(services, opts, guards);
          } catch (e) {
            assert.ok(e instanceof DataplaneInputError);
          }
          if (!fresh) {
            // Refused as a whole, and nothing changed: the last good table stays.
            assert.throws(() => inc.update(services, guards), DataplaneInputError);
            assert.equal(sameAs(fromState(inc.state), lastFresh.state), undefined);
            continue;
          }
          const changed = services.filter((s) => {
            const o = last.get(s.name);
            return !o || JSON.stringify(o) !== JSON.stringify(s);
          }).length;
          const d = inc.update(services, guards, step.track);
          assert.equal(d.recompiled, changed, 'only changed services are recompiled');
          assert.equal(sameAs(fromState(inc.state), fresh.state), undefined);
          assert.deepEqual(new Map(inc.counterRefs()), new Map(fresh.counters));
          assert.deepEqual([...inc.addresses()].sort(), [...fresh.addresses].sort());
          const sorted = (a: readonly string[]) => [...a].sort().join(',');
          assert.equal(d.addressesChanged, sorted(fresh.addresses) !== sorted(lastFresh.addresses));
          // The delta also rebuilds the table it started from (the applier's model after a refusal).
          if (step.track) assert.equal(sameAs(fromState(inc.before(d)), lastFresh.state), undefined);
          const dtx = deltaTransaction(inc.state, d);
          if (!step.track) assert.equal(dtx, undefined, 'an untracked update has no delta transaction');
          const tx = dtx ?? diffTables(lastFresh.state, fresh.state);
          kernel = run(kernel, tx.script);
          assert.equal(sameAs(kernel, fresh.state), undefined);
          last = new Map(services.map((s) => [s.name, s]));
          lastFresh = fresh;
        }
      }),
      { numRuns: 150 },
    );
  });

  it('property: told which services changed (a hint), the compiler ends in the table it reaches comparing every service', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 8 }), (steps) => {
        const plain = new IncrementalCompiler(opts);
        const hinted = new IncrementalCompiler(opts);
        let last = new Map<string, DataplaneService>();
        for (const step of steps) {
          const { services, guards } = next(last, step);
          const hint = new Map<string, DataplaneService | undefined>();
          for (const sv of services) if (last.get(sv.name) !== sv) hint.set(sv.name, sv);
          for (const n of last.keys()) if (!services.some((sv) => sv.name === n)) hint.set(n, undefined);
          let ok = true;
          try {
            plain.update(services, guards, step.track);
          } catch (e) {
            assert.ok(e instanceof DataplaneInputError);
            ok = false;
          }
          if (!ok) {
            assert.throws(() => hinted.update(services, guards, step.track, hint), DataplaneInputError);
            continue;
          }
          hinted.update(services, guards, step.track, hint);
          assert.equal(sameAs(fromState(hinted.state), plain.state), undefined);
          assert.deepEqual([...hinted.addresses()].sort(), [...plain.addresses()].sort());
          last = new Map(services.map((sv) => [sv.name, sv]));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('an unchanged input recompiles nothing and writes nothing', () => {
    const svc = (i: number): DataplaneService => ({
      name: `svc-${i}`,
      addresses: [`10.200.0.${i}`],
      ports: [PORTS[0]],
      mode: 'fullnat',
      algorithm: 'maglev',
      endpoints: [
        { address: '10.1.0.1', weight: 1, state: 'active' },
        { address: '10.1.0.2', weight: 1, state: 'active' },
      ],
    });
    const inc = new IncrementalCompiler(opts);
    const all = Array.from({ length: 40 }, (_, i) => svc(i + 1));
    assert.equal(inc.update(all).recompiled, 40);
    const d = inc.update(all.map((s) => structuredClone(s)));
    assert.equal(d.recompiled, 0);
    assert.equal(deltaTransaction(inc.state, d)?.statements, 0);
    // One endpoint inactive: one service recompiled, statements only about it.
    const changed = all.map((s, i) =>
      i === 6
        ? { ...s, endpoints: [s.endpoints[0]!, { ...s.endpoints[1]!, state: 'inactive' as const }] }
        : s,
    );
    const d2 = inc.update(changed);
    assert.equal(d2.recompiled, 1);
    assert.equal(d2.addressesChanged, false, 'same VIPs: no VIP re-sync');
    const tx = deltaTransaction(inc.state, d2)!;
    for (const line of tx.script.trim().split('\n'))
      assert.match(line, /^(add|delete) element inet ferrolb slots4tcp_\d+ \{ 10\.200\.0\.7 \. /);
  });

  it('a persist timeout change (a set changes type) needs the whole-table diff', () => {
    const s: DataplaneService = {
      name: 'p',
      addresses: ['10.200.0.1'],
      ports: [PORTS[0]],
      mode: 'default',
      algorithm: 'persist',
      endpoints: [{ address: '10.1.0.1', weight: 1, state: 'active' }],
    };
    const inc = new IncrementalCompiler();
    inc.update([s]);
    assert.equal(deltaTransaction(inc.state, inc.update([{ ...s, persistTimeoutSeconds: 60 }])), undefined);
  });
});

describe('chunked transactions', () => {
  it('property: a script split into parts of k element lines, applied part by part, gives the same table, every part valid on its own', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { minLength: 2, maxLength: 2 }),
        fc.integer({ min: 1, max: 3 }),
        (steps, k) => {
          const a = next(new Map(), { ...steps[0]!, clash: false });
          const b = next(new Map(), { ...steps[1]!, clash: false });
          const sa = compile(a.services, opts, a.guards).state;
          const sb = compile(b.services, opts, b.guards).state;
          for (const [from, tx] of [
            [undefined, diffTables(undefined, sb)],
            [sa, diffTables(sa, sb)],
          ] as const) {
            const parts = splitScript(tx.script, k);
            assert.equal(parts.join(''), tx.script, 'nothing lost or reordered');
            const adds = tx.script.split('\n').filter((l) => l.startsWith('add element ')).length;
            assert.equal(parts.length, tx.script === '' ? 0 : Math.max(1, Math.ceil(adds / k)));
            let sim = fromState(from);
            for (const p of parts) sim = run(sim, p); // throws on any dangling or in-use reference
            assert.equal(sameAs(sim, sb), undefined);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('small scripts stay one transaction', () => {
    const s = compile([], opts).state;
    const tx = diffTables(undefined, s);
    assert.deepEqual(splitScript(tx.script, 100), [tx.script]);
    assert.deepEqual(splitScript('', 100), []);
  });
});
