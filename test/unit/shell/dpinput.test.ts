// The data plane input kept in O(change) (DataplaneInput) equals dataplaneServices() of the same
// snapshot and verdicts after any sequence of API changes and endpoint verdicts; its change set names
// exactly the services whose entry differs; and the service index (SCTP, probes) equals a scan.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dataplaneServices, serviceIndex } from '../../../src/shell/bridge.js';
import { DataplaneInput } from '../../../src/shell/dpinput.js';
import { emptySnapshot, transition, type Change, type Snapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';
import type { EndpointState } from '../../../src/state/views.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const EPS = ['10.1.0.1', '10.1.0.2', '10.1.0.3'];
const pool: RawObject = {
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name: 'p' },
  // Room for four: the others stay Pending (not served) until one goes.
  spec: { addresses: ['10.0.0.0/30'], avoidBuggyIPs: false },
};
const second: RawObject = {
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name: 's' },
  spec: { addresses: ['10.9.0.0/30'], avoidBuggyIPs: false },
};

const lbArb = (name: string) =>
  fc
    .record({
      port: fc.constantFrom(80, 443),
      sctp: fc.boolean(),
      multihomed: fc.boolean(),
      eps: fc.subarray(EPS),
      check: fc.boolean(),
    })
    .map((x): RawObject => ({
      apiVersion: 'ferrolb.io/v1',
      kind: 'LoadBalancer',
      metadata: { name },
      spec: {
        // Multihomed SCTP (secondary pools) needs every port SCTP.
        ports: [
          { port: x.port, protocol: x.sctp ? 'SCTP' : 'TCP' },
          { port: 8443, protocol: x.sctp && x.multihomed ? 'SCTP' : 'TCP' },
        ],
        mode: 'fullnat',
        endpoints: x.eps.map((address) => ({ address })),
        ...(x.sctp && x.multihomed ? { secondaryPools: ['s'] } : {}),
        ...(x.check ? { healthCheck: { type: 'tcp' } } : {}),
      },
    }));

type Step =
  | { t: 'put'; o: RawObject }
  | { t: 'del'; name: string }
  | { t: 'health'; name: string; ep: string; state: EndpointState };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.constantFrom(...NAMES).chain((n) => lbArb(n).map((o) => ({ t: 'put' as const, o }))),
  fc.constantFrom(...NAMES).map((name) => ({ t: 'del' as const, name })),
  fc.record({
    t: fc.constant('health' as const),
    name: fc.constantFrom(...NAMES),
    ep: fc.constantFrom(...EPS),
    state: fc.constantFrom<EndpointState>('active', 'inactive'),
  }),
);

test('property: the O(change) data plane input equals the whole conversion after any changes', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { minLength: 1, maxLength: 25 }),
      fc.integer({ min: 1, max: 4 }),
      (steps, every) => {
        const first = transition(emptySnapshot(), { type: 'apply', objects: [pool, second] });
        assert.ok(first.ok);
        let snap: Snapshot = first.next;
        serviceIndex(snap);
        const verdicts = new Map<string, EndpointState>();
        const versions = new Map<string, number>();
        const health = (s: string, a: string) => verdicts.get(`${s}|${a}`);
        const version = (s: string) => versions.get(s) ?? 0;
        const input = new DataplaneInput();
        let last = input.update(snap, health, version).services;
        steps.forEach((st, i) => {
          if (st.t === 'health') {
            verdicts.set(`${st.name}|${st.ep}`, st.state);
            versions.set(st.name, version(st.name) + 1);
            input.noteHealth(st.name);
          } else {
            const change: Change =
              st.t === 'put'
                ? { type: 'apply', objects: [st.o] }
                : { type: 'delete', kind: 'LoadBalancer', name: st.name };
            const t = transition(snap, change);
            if (t.ok && t.changed) {
              input.noteSnapshot(t.next, snap);
              serviceIndex(t.next, snap);
              snap = t.next;
            }
          }
          // The shell applies after some changes only (coalesced).
          if (i % every !== 0 && i !== steps.length - 1) return;
          const r = input.update(snap, health, version);
          const want = dataplaneServices(snap, health, version);
          assert.deepEqual(r.services, want);
          if (r.changed) {
            assert.equal(r.since, last);
            const before = new Map(last.map((s) => [s.name, s]));
            const after = new Map(r.services.map((s) => [s.name, s]));
            for (const n of new Set([...before.keys(), ...after.keys()]))
              assert.equal(r.changed.has(n), before.get(n) !== after.get(n), `change set for ${n}`);
            for (const [n, s] of r.changed) assert.equal(s, after.get(n));
          }
          last = r.services;
          // The index derived change by change equals a scan of the same snapshot.
          const scan = serviceIndex({ ...snap });
          const idx = serviceIndex(snap);
          assert.deepEqual([...idx.multihomed].sort(), [...scan.multihomed].sort());
          assert.deepEqual([...idx.probed].sort(), [...scan.probed].sort());
        });
      },
    ),
    { numRuns: 150 },
  );
});

test('sliced update: a verdict noted while a bulk update runs is in the next update', () => {
  const big: RawObject = { ...pool, spec: { addresses: ['10.0.0.0/22'], avoidBuggyIPs: false } };
  const lbs = Array.from({ length: 300 }, (_, i): RawObject => ({
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: `s${String(i).padStart(3, '0')}` },
    spec: { ports: [{ port: 80, protocol: 'TCP' }], endpoints: [{ address: EPS[0]! }] },
  }));
  const first = transition(emptySnapshot(), { type: 'apply', objects: [big] });
  assert.ok(first.ok);
  const verdicts = new Map<string, EndpointState>();
  const versions = new Map<string, number>();
  const health = (s: string, a: string) => verdicts.get(`${s}|${a}`);
  const version = (s: string) => versions.get(s) ?? 0;
  const input = new DataplaneInput();
  input.update(first.next, health, version);
  const t = transition(first.next, { type: 'apply', objects: lbs });
  assert.ok(t.ok && t.changed);
  input.noteSnapshot(t.next, first.next);
  const steps = input.updateSteps(t.next, health, version);
  let r = steps.next();
  assert.equal(r.done, false, '300 services take more than one step');
  // A verdict arrives between two slices (the probe thread's message on the same loop).
  verdicts.set(`s000|${EPS[0]}`, 'inactive');
  versions.set('s000', 1);
  input.noteHealth('s000');
  while (!r.done) r = steps.next();
  const next = input.update(t.next, health, version);
  assert.deepEqual(next.services, dataplaneServices(t.next, health, version));
  assert.deepEqual([...(next.changed?.keys() ?? [])], ['s000']);
});
