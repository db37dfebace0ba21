// Property tests: IPAM outcomes never depend on object order or names, explicit requests beat
// automatic picks, and the incremental path (one change after another) equals a full run.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocate } from '../../../src/ipam/allocator.js';
import { buildDesiredState } from '../../../src/model/validate.js';
import { emptySnapshot, transition, type Snapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';

const pool = (name: string, addresses: string[]): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name },
  spec: { addresses },
});
const lb = (name: string, spec: Record<string, unknown> = {}): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name },
  spec: { ports: [{ port: 80 }], ...spec },
});
const stateOf = (objs: RawObject[]) => {
  const r = buildDesiredState(objs.map((object) => ({ origin: 'file' as const, object })));
  assert.ok(r.state, JSON.stringify(r.issues));
  return r.state;
};

const nameArb = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
/** Services: unique names, each either automatic or asking for one address of 10.0.0.0/28. */
const servicesArb = fc.uniqueArray(
  fc.record({ name: nameArb, want: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }) }),
  { selector: (s) => s.name, minLength: 1, maxLength: 12 },
);

test('an explicit request wins over automatic assignment, whatever the names and order', () => {
  fc.assert(
    fc.property(servicesArb, fc.integer(), (services, seed) => {
      // Distinct requests only (two requesters of one address conflict by definition).
      const seen = new Set<number>();
      const svcs = services.map((s) =>
        s.want !== undefined && !seen.has(s.want) ? (seen.add(s.want), s) : { name: s.name, want: undefined },
      );
      const objs = [
        pool('p', ['10.0.0.0/28']),
        ...svcs.map((s) => lb(s.name, s.want !== undefined ? { addresses: [`10.0.0.${s.want}`] } : {})),
      ];
      const shuffled =
        fc.sample(fc.shuffledSubarray(objs, { minLength: objs.length }), { seed, numRuns: 1 })[0] ?? objs;
      const a = allocate(stateOf(objs), new Map());
      const b = allocate(stateOf(shuffled), new Map());
      for (const s of svcs) {
        assert.deepEqual(a.allocations.get(s.name), b.allocations.get(s.name));
        assert.deepEqual(a.status.get(s.name), b.status.get(s.name));
        if (s.want !== undefined) {
          assert.equal(a.status.get(s.name)?.phase, 'Allocated', `${s.name} asked for .${s.want}`);
          assert.deepEqual(a.allocations.get(s.name)?.addresses, [`10.0.0.${s.want}`]);
        }
      }
    }),
    { numRuns: 200 },
  );
});

test('a requester is not left Pending by an automatic pick of the same batch (regression)', () => {
  // "a" sorts first and used to take 10.0.0.0 before "z" asked for it.
  const r = allocate(
    stateOf([pool('p', ['10.0.0.0/30']), lb('a'), lb('z', { addresses: ['10.0.0.0'] })]),
    new Map(),
  );
  assert.deepEqual(r.allocations.get('z')?.addresses, ['10.0.0.0']);
  assert.deepEqual(r.allocations.get('a')?.addresses, ['10.0.0.1']);
  assert.equal(r.status.get('z')?.phase, 'Allocated');
});

type Op =
  | { op: 'put'; name: string; want?: number; port: number; dual: boolean; share?: string }
  | { op: 'del'; name: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('put' as const),
    name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
    want: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }),
    port: fc.integer({ min: 1, max: 3 }),
    dual: fc.boolean(),
    share: fc.constantFrom(undefined, 'k', 'k', 'j'),
  }),
  fc.record({
    op: fc.constant('del' as const),
    name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
  }),
);

test('incremental IPAM (one change at a time) gives what a full run over the same input gives', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
      // A small v4 pool (so some services end Pending and are re-examined) and a v6 one.
      let snap: Snapshot = emptySnapshot();
      const t0 = transition(snap, {
        type: 'apply',
        objects: [pool('v4', ['10.0.0.0/29']), pool('v6', ['fd00::/125'])],
      });
      assert.ok(t0.ok);
      snap = t0.next;
      for (const o of ops) {
        const before = snap;
        const t =
          o.op === 'del'
            ? transition(snap, { type: 'delete', kind: 'LoadBalancer', name: o.name })
            : transition(snap, {
                type: 'apply',
                objects: [
                  lb(o.name, {
                    ports: [{ port: o.port }],
                    ...(o.want !== undefined ? { addresses: [`10.0.0.${o.want}`] } : {}),
                    ...(o.dual ? { ipFamilyPolicy: 'PreferDualStack' } : {}),
                    ...(o.share !== undefined ? { sharingKey: o.share } : {}),
                  }),
                ],
              });
        if (!t.ok) continue; // deleting a missing service
        snap = t.next;
        const full = allocate(stateOf(snap.objects.map((s) => s.object)), before.allocations);
        assert.deepEqual(
          Object.fromEntries([...snap.allocations].sort()),
          Object.fromEntries([...full.allocations].sort()),
        );
        assert.deepEqual(
          Object.fromEntries([...snap.status].sort()),
          Object.fromEntries([...full.status].sort()),
        );
      }
    }),
    { numRuns: 150 },
  );
});

test('incremental validation accepts and refuses exactly what whole-set validation does', () => {
  const opArb2 = fc.record({
    name: fc.constantFrom('a', 'b', 'c', 'd'),
    kind: fc.constantFrom('ok', 'ghost-pool', 'bad-address', 'delete', 'pool-change'),
    port: fc.integer({ min: 1, max: 3 }),
  });
  fc.assert(
    fc.property(fc.array(opArb2, { minLength: 1, maxLength: 20 }), (ops) => {
      let snap: Snapshot = emptySnapshot();
      const t0 = transition(snap, { type: 'apply', objects: [pool('v4', ['10.0.0.0/28'])] });
      assert.ok(t0.ok);
      snap = t0.next;
      for (const o of ops) {
        const t =
          o.kind === 'delete'
            ? transition(snap, { type: 'delete', kind: 'LoadBalancer', name: o.name })
            : o.kind === 'pool-change'
              ? transition(snap, { type: 'apply', objects: [pool('v4', [`10.0.0.0/${27 + (o.port % 2)}`])] })
              : transition(snap, {
                  type: 'apply',
                  objects: [
                    lb(o.name, {
                      ports: [{ port: o.port }],
                      ...(o.kind === 'ghost-pool' ? { pool: 'ghost' } : {}),
                      ...(o.kind === 'bad-address' ? { addresses: ['10.9.9.9'] } : {}),
                    }),
                  ],
                });
        if (o.kind === 'delete' && !t.ok) continue;
        // The whole-set verdict over the same resulting objects.
        const objects = t.ok
          ? t.next.objects
          : o.kind === 'pool-change'
            ? null
            : [
                ...snap.objects.filter(
                  (s) =>
                    (s.object.metadata as { name: string }).name !== o.name ||
                    s.object.kind !== 'LoadBalancer',
                ),
                {
                  origin: 'api' as const,
                  object: lb(o.name, {
                    ports: [{ port: o.port }],
                    ...(o.kind === 'ghost-pool' ? { pool: 'ghost' } : {}),
                    ...(o.kind === 'bad-address' ? { addresses: ['10.9.9.9'] } : {}),
                  }),
                },
              ];
        if (objects === null) continue; // a pool change refused by an invariant (pool in use), not validation
        const whole = buildDesiredState(objects);
        if (t.ok) {
          assert.ok(
            whole.state,
            `incremental accepted what the whole set refuses: ${JSON.stringify(whole.issues)}`,
          );
          assert.deepEqual([...t.next.state.loadBalancers].sort(), [...whole.state.loadBalancers].sort());
          assert.deepEqual(t.next.warnings.length, whole.warnings.length);
          snap = t.next;
        } else if (t.code === 'Invalid') {
          assert.equal(whole.state, undefined, 'incremental refused what the whole set accepts');
        }
      }
    }),
    { numRuns: 150 },
  );
});
