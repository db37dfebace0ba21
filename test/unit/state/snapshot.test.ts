// The core's invariants hold for every front door: they live in transition(), which the file, SIGHUP,
// REST and the agent all pass through.
import test from 'node:test';
import assert from 'node:assert/strict';
import { emptySnapshot, transition, TransitionError, type Snapshot } from '../../../src/state/snapshot.js';
import { formatIssue } from '../../../src/model/issues.js';
import type { RawObject } from '../../../src/model/types.js';

const pool = (name: string, addresses: string[]): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name },
  spec: { addresses },
});
const lb = (
  name: string,
  spec: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name, ...meta },
  spec: { ports: [{ port: 80 }], ...spec },
});
function ok(t: ReturnType<typeof transition>): Snapshot {
  assert.ok(t.ok, t.ok ? '' : t.issues.map(formatIssue).join('\n'));
  return t.next;
}
const refused = (t: ReturnType<typeof transition>, code: string, re: RegExp) => {
  assert.equal(t.ok, false);
  if (t.ok) return;
  assert.equal(t.code, code);
  assert.match(t.issues.map(formatIssue).join('\n'), re);
};

test('duplicates in one file or one apply are refused (as `ferrolb check` does), not "last wins"', () => {
  const e = emptySnapshot();
  refused(
    transition(e, { type: 'file', objects: [pool('p', ['10.0.0.0/24']), pool('p', ['10.0.1.0/24'])] }),
    TransitionError.Invalid,
    /IPAddressPool\/p: metadata\.name: "p": defined twice \(documents 1 and 2\)/,
  );
  refused(
    transition(e, { type: 'apply', objects: [lb('a'), lb('a', { ports: [{ port: 81 }] })] }),
    TransitionError.Invalid,
    /LoadBalancer\/a.*defined twice/,
  );
});

test('a pool in use may not be deleted: not by DELETE, not by a reload that drops it', () => {
  const s = ok(
    transition(emptySnapshot(), {
      type: 'file',
      objects: [pool('p', ['10.0.0.0/24']), pool('q', ['10.0.1.0/24']), lb('a', { pool: 'p' })],
    }),
  );
  assert.deepEqual(s.allocations.get('a')?.addresses, ['10.0.0.0']);
  refused(
    transition(s, { type: 'delete', kind: 'IPAddressPool', name: 'p' }),
    TransitionError.Conflict,
    /IPAddressPool\/p.*still in use by 1 LoadBalancer\(s\): a \(10\.0\.0\.0\)/,
  );
  // The file drops the pool but keeps the service (now without spec.pool): refused as well.
  refused(
    transition(s, { type: 'file', objects: [pool('q', ['10.0.1.0/24']), lb('a')] }),
    TransitionError.Conflict,
    /IPAddressPool\/p.*still in use/,
  );
  // An unused pool goes; a pool whose services go in the same change goes too.
  ok(transition(s, { type: 'delete', kind: 'IPAddressPool', name: 'q' }));
  ok(transition(s, { type: 'file', objects: [pool('q', ['10.0.1.0/24'])] }));
});

test('a file that would delete every file-defined object is refused unless allowEmpty', () => {
  const s = ok(transition(emptySnapshot(), { type: 'file', objects: [pool('p', ['10.0.0.0/24']), lb('a')] }));
  refused(transition(s, { type: 'file', objects: [] }), TransitionError.WouldDeleteAll, /--allow-empty/);
  refused(
    transition(s, { type: 'file', objects: [pool('other', ['10.9.0.0/24'])] }),
    TransitionError.WouldDeleteAll,
    /no name in common/,
  );
  const emptied = ok(transition(s, { type: 'file', objects: [], allowEmpty: true }));
  assert.equal(emptied.objects.length, 0);
  // A first file into an empty state is no deletion at all.
  ok(transition(emptySnapshot(), { type: 'file', objects: [] }));
});

test('a no-op change is unchanged (no new generation, nothing to save)', () => {
  const s = ok(transition(emptySnapshot(), { type: 'file', objects: [pool('p', ['10.0.0.0/24']), lb('a')] }));
  const again = transition(s, { type: 'file', objects: [pool('p', ['10.0.0.0/24']), lb('a')] });
  assert.ok(again.ok && !again.changed && again.next === s);
  const put = transition(s, { type: 'apply', objects: [lb('a')] });
  assert.ok(put.ok && !put.changed);
});

test('errors of a one-document change name that document, not its place in the whole set', () => {
  const s = ok(
    transition(emptySnapshot(), {
      type: 'apply',
      objects: [pool('p', ['10.0.0.0/24']), lb('a'), lb('b'), lb('c'), lb('d')],
    }),
  );
  const t = transition(s, { type: 'apply', objects: [{ kind: 'LoadBalancer', spec: {} }] });
  assert.ok(!t.ok);
  assert.ok(
    t.issues.every((i) => i.object === 'document 1'),
    t.issues.map(formatIssue).join('\n'),
  );
});

test('null, unknown fields and limits are refused with field and value, never thrown', () => {
  const e = emptySnapshot();
  refused(
    transition(e, { type: 'apply', objects: [null as unknown as RawObject] }),
    TransitionError.Invalid,
    /document 1: null: must be an object/,
  );
  refused(
    transition(e, { type: 'apply', objects: [{ ...lb('a'), extra: 1 }] }),
    TransitionError.Invalid,
    /LoadBalancer\/a: extra: 1: unknown field/,
  );
  refused(
    transition(e, { type: 'apply', objects: [lb('a', {}, { uid: 'x' })] }),
    TransitionError.Invalid,
    /metadata\.uid: "x": unknown field/,
  );
  refused(
    transition(e, { type: 'apply', objects: [lb('a'.repeat(1 << 20))] }),
    TransitionError.Invalid,
    /metadata\.name: .*1048576 characters; at most 4096/,
  );
  refused(
    transition(e, { type: 'apply', objects: [lb('a', {}, { annotations: { x: 'y'.repeat(7 << 20) } })] }),
    TransitionError.Invalid,
    /metadata\.annotations\.x: .*at most 65536/,
  );
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  refused(
    transition(e, { type: 'apply', objects: [lb('a', { ports: deep })] }),
    TransitionError.Invalid,
    /nested deeper than 32 levels/,
  );
  refused(
    transition(e, {
      type: 'apply',
      objects: [lb('a', { healthCheck: { type: 'tcp', interval: '100000h' } })],
    }),
    TransitionError.Invalid,
    /spec\.healthCheck\.interval: "100000h": must be at most 2147483647 ms/,
  );
  refused(
    transition(e, {
      type: 'apply',
      objects: [lb('a', { algorithm: 'persist', persistTimeout: '99999999h' })],
    }),
    TransitionError.Invalid,
    /spec\.persistTimeout: "99999999h": must be at most 365 days/,
  );
});

test('special-purpose pools and addresses are refused, saying which range and why', () => {
  const e = emptySnapshot();
  for (const [a, re] of [
    ['224.0.0.0/4', /224\.0\.0\.0\/4, multicast/],
    ['127.0.0.0/8', /127\.0\.0\.0\/8, loopback/],
    ['0.0.0.0/8', /"this network"/],
    ['255.255.255.255/32', /255\.255\.255\.255 broadcast/],
    ['::/0', /overlaps ::\/128, the unspecified address/],
    ['::/126', /::\/128, the unspecified address/],
    ['ff02::/126', /ff00::\/8, multicast/],
    ['fe80::/64', /fe80::\/10, link-local/],
  ] as const)
    refused(
      transition(e, { type: 'apply', objects: [pool('p', [a])] }),
      TransitionError.Invalid,
      new RegExp(
        `IPAddressPool/p: spec\\.addresses\\[0\\]: "${a.replace(/[.*/]/g, '\\$&')}": .*${re.source}`,
      ),
    );
  refused(
    transition(e, { type: 'apply', objects: [lb('a', { addresses: ['0.0.0.0'] })] }),
    TransitionError.Invalid,
    /spec\.addresses\[0\]: "0\.0\.0\.0": not usable as a service address: inside 0\.0\.0\.0\/8/,
  );
  refused(
    transition(e, { type: 'apply', objects: [lb('a', { endpoints: [{ address: '224.0.0.1' }] })] }),
    TransitionError.Invalid,
    /spec\.endpoints\[0\]\.address: "224\.0\.0\.1": not usable as an endpoint/,
  );
  ok(transition(e, { type: 'apply', objects: [pool('p', ['192.0.2.0/24', '2001:db8::/64'])] }));
});

test('one PUT at many services re-validates and re-allocates only what it touches', () => {
  const objs = [pool('p', ['10.0.0.0/16']), ...Array.from({ length: 2000 }, (_, i) => lb(`s${i}`))];
  const s = ok(transition(emptySnapshot(), { type: 'apply', objects: objs }));
  const n = ok(transition(s, { type: 'apply', objects: [lb('s5', { ports: [{ port: 81 }] })] }));
  // Untouched services keep their validated spec and allocation objects (by identity: no work done).
  assert.equal(n.state.loadBalancers.get('s6'), s.state.loadBalancers.get('s6'));
  assert.equal(n.allocations.get('s6'), s.allocations.get('s6'));
  assert.equal(n.state.pools, s.state.pools);
  assert.deepEqual(n.allocations.get('s5'), s.allocations.get('s5'), 'sticky');
  assert.notEqual(n.state.loadBalancers.get('s5'), s.state.loadBalancers.get('s5'));
});

test('apply outcomes: created, configured, unchanged per object; strict refuses an own warning only', () => {
  const s0 = ok(transition(emptySnapshot(), { type: 'apply', objects: [pool('p', ['10.0.0.0/24'])] }));
  const t1 = transition(s0, { type: 'apply', objects: [pool('p', ['10.0.0.0/24']), lb('a')] });
  assert.ok(t1.ok);
  assert.deepEqual(
    [...(t1.outcomes ?? [])],
    [
      ['IPAddressPool/p', 'unchanged'],
      ['LoadBalancer/a', 'created'],
    ],
  );
  const t2 = transition(t1.next, { type: 'apply', objects: [lb('a', { ports: [{ port: 81 }] })] });
  assert.ok(t2.ok);
  assert.deepEqual([...(t2.outcomes ?? [])], [['LoadBalancer/a', 'configured']]);
  const t3 = transition(t2.next, { type: 'apply', objects: [lb('a', { ports: [{ port: 81 }] })] });
  assert.ok(t3.ok && !t3.changed);
  assert.deepEqual([...(t3.outcomes ?? [])], [['LoadBalancer/a', 'unchanged']]);

  // A warning (persistTimeout without algorithm persist): accepted, refused under strict.
  const warned = lb('w', { persistTimeout: '30s' });
  ok(transition(t3.next, { type: 'apply', objects: [warned] }));
  refused(
    transition(t3.next, { type: 'apply', objects: [warned, lb('b')], strict: true }),
    TransitionError.Warnings,
    /LoadBalancer\/w: spec\.persistTimeout: "30s": only used with algorithm "persist"/,
  );
  // Another object's warning does not refuse a strict apply of a clean one.
  const withWarned = ok(transition(t3.next, { type: 'apply', objects: [warned] }));
  ok(transition(withWarned, { type: 'apply', objects: [lb('b')], strict: true }));
});
