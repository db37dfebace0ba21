// Data plane e2e, lifecycle: endpoint state changes, incremental updates, a daemon killed under load
// and restarted (adoption), shutdown with and without keeping forwarding, leastconn from conntrack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { e2eSkipReason, Topology, waitFor } from '../support/netns.js';
import { Applier } from '../../src/dataplane/applier.js';
import type { DataplaneEndpoint, DataplaneService } from '../../src/dataplane/types.js';
import {
  buildLbTopology,
  Hold,
  httpBatch,
  lines,
  tally,
  VIP4,
  vipsText,
  type LbTopo,
} from './support-dataplane/topo.js';

const skip = e2eSkipReason();
const DAEMON_JS = join(dirname(fileURLToPath(import.meta.url)), 'support-dataplane', 'daemon.js');

const svc = (
  t: LbTopo,
  over: Partial<DataplaneService> = {},
  state: Partial<Record<string, Partial<DataplaneEndpoint>>> = {},
): DataplaneService => ({
  name: 'web',
  addresses: [VIP4],
  ports: [
    { port: 80, protocol: 'TCP', targetPort: 8080 },
    { port: 7000, protocol: 'TCP', targetPort: 9000 },
  ],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: t.backends.map((b) => ({
    address: b.v4,
    weight: 1,
    state: 'active' as const,
    ...state[b.name],
  })),
  ...over,
});

async function withTopo(body: (t: LbTopo) => Promise<void>) {
  const topo = new Topology();
  try {
    await body(await buildLbTopology(topo));
  } finally {
    await topo.cleanup();
  }
}

/** One long-lived connection per backend (round robin hands them out in turn). */
async function holdsOnEveryBackend(t: LbTopo, vip = VIP4): Promise<Map<string, Hold>> {
  const holds = new Map<string, Hold>();
  for (let i = 0; i < 3; i++) {
    const h = await Hold.open(t, vip, 7000);
    await h.ping();
    holds.set(h.backend!, h);
  }
  assert.equal(holds.size, 3, 'one held connection per backend');
  return holds;
}

describe('data plane lifecycle in the kernel', { skip }, () => {
  it('inactive endpoint: no new flows, established flows left alone; flushOnInactive ends them', async () => {
    await withTopo(async (t) => {
      const ap = new Applier({ run: t.run });
      await ap.apply([svc(t)]);
      const holds = await holdsOnEveryBackend(t);
      await ap.apply([svc(t, {}, { b2: { state: 'inactive' } })]);
      const b = await httpBatch(t, VIP4, 80, 30);
      assert.equal(b.errors, 0);
      assert.deepEqual([...tally(b.replies).keys()].sort(), ['b1', 'b3'], 'b2 gets no new flows');
      assert.match(await holds.get('b2')!.ping(), /^b2 /, 'established flow to b2 still served');
      // 'unknown' (not yet probed) is not active either.
      const flushed = await ap.apply([
        svc(t, { flushOnInactive: true }, { b2: { state: 'inactive' }, b3: { state: 'unknown' } }),
      ]);
      assert.ok(flushed.flushed >= 1, `b3's held flow deleted from conntrack (${flushed.flushed})`);
      await assert.rejects(holds.get('b3')!.ping(2000), 'b3 flow flushed');
      assert.match(await holds.get('b1')!.ping(), /^b1 /);
      assert.match(await holds.get('b2')!.ping(), /^b2 /, 'b2 was already inactive: not flushed now');
      const only = await httpBatch(t, VIP4, 80, 10);
      assert.deepEqual([...tally(only.replies).keys()], ['b1']);
    });
  });

  it('incremental updates touch only what changed and leave established connections intact', async () => {
    await withTopo(async (t) => {
      const ap = new Applier({ run: t.run });
      const base = svc(t);
      const first = await ap.apply([base]);
      const holds = await holdsOnEveryBackend(t);
      const api = (eps: number): DataplaneService => ({
        ...svc(t, { name: 'api', addresses: ['10.200.0.20'], algorithm: 'maglev' }),
        endpoints: t.backends
          .slice(0, eps)
          .map((b) => ({ address: b.v4, weight: 1, state: 'active' as const })),
      });
      for (const next of [[base, api(3)], [base, api(2)], [base]]) {
        const r = await ap.apply(next);
        assert.ok(
          !r.full && r.statements > 0 && r.statements < first.statements,
          `small patch: ${r.statements}`,
        );
        for (const [name, h] of holds) assert.match(await h.ping(), new RegExp(`^${name} `));
        // What the kernel has now is exactly the compiled state: a fresh applier has nothing to do.
        assert.equal((await new Applier({ run: t.run }).plan(next)).statements, 0);
      }
      const after = await httpBatch(t, '10.200.0.20', 80, 3);
      assert.equal(after.replies.length, 0, 'removed service no longer answers');
      const addrs = await vipsText(t);
      assert.doesNotMatch(addrs, /10\.200\.0\.20( |$)/, 'its VIP left ferrolb0');
      assert.match(addrs, /10\.200\.0\.10( |$)/);
    });
  });

  it('drift: someone edits the table behind our back; observe + apply repairs exactly that', async () => {
    await withTopo(async (t) => {
      const ap = new Applier({ run: t.run });
      await ap.apply([svc(t)]);
      const gone = await t.run('nft', [
        'delete',
        'element',
        'inet',
        'ferrolb',
        'svc4',
        `{ ${VIP4} . tcp . 80 }`,
      ]);
      assert.equal(gone.code, 0, gone.stderr);
      assert.equal((await httpBatch(t, VIP4, 80, 2)).replies.length, 0, 'dispatch really removed');
      await ap.observe();
      const r = await ap.apply([svc(t)]);
      assert.equal(r.statements, 1, 'one element re-added, nothing else');
      assert.equal((await httpBatch(t, VIP4, 80, 6)).errors, 0);
    });
  });

  it('daemon SIGKILLed under load: flows and new connections keep working; the restart adopts, not flushes', async () => {
    await withTopo(async (t) => {
      const services = [svc(t)];
      const daemon = t.topo.spawn(t.lb, process.execPath, [DAEMON_JS, JSON.stringify(services)]);
      await waitFor('daemon applied', () => lines(daemon).find((l) => l.startsWith('applied')), 10_000);
      const holds = await holdsOnEveryBackend(t);
      const load = httpBatch(t, VIP4, 80, 300); // running while the daemon dies
      await new Promise((r) => setTimeout(r, 100));
      daemon.kill('SIGKILL');
      await new Promise((r) => daemon.once('exit', r));
      const during = await load;
      assert.equal(during.errors, 0, 'no request failed across the kill');
      assert.equal(during.replies.length, 300);
      for (const [name, h] of holds) assert.match(await h.ping(), new RegExp(`^${name} `));
      const restarted = new Applier({ run: t.run });
      assert.equal(await restarted.observe(), true, 'table still there');
      const r = await restarted.apply(services);
      assert.equal(r.statements, 0, 'adopted: nothing re-applied');
      const c = await restarted.counters();
      assert.ok(c[0]!.packets > 300 * 5, `counters kept across the restart: ${c[0]!.packets}`);
      for (const [name, h] of holds) assert.match(await h.ping(), new RegExp(`^${name} `));
    });
  });

  it('shutdown(keepForwarding) leaves rules and VIPs; shutdown() removes them', async () => {
    await withTopo(async (t) => {
      const ap = new Applier({ run: t.run });
      await ap.apply([svc(t)]);
      await ap.shutdown(true);
      assert.equal((await httpBatch(t, VIP4, 80, 6)).errors, 0);
      assert.equal((await t.run('ip', ['addr', 'show', 'dev', 'ferrolb0'])).code, 0);
      const again = new Applier({ run: t.run });
      assert.equal((await again.apply([svc(t)])).statements, 0);
      await again.shutdown(false);
      assert.equal((await httpBatch(t, VIP4, 80, 2)).replies.length, 0, 'no longer forwarded');
      assert.notEqual((await t.run('nft', ['list', 'table', 'inet', 'ferrolb'])).code, 0);
    });
  });

  it('leastconn steers new flows away from the endpoint holding connections (counts from conntrack)', async () => {
    await withTopo(async (t) => {
      const ap = new Applier({ run: t.run });
      const lc = (b2b3: 'active' | 'inactive') =>
        svc(t, { algorithm: 'leastconn' }, { b2: { state: b2b3 }, b3: { state: b2b3 } });
      await ap.apply([lc('inactive')]);
      const holds: Hold[] = [];
      for (let i = 0; i < 6; i++) holds.push(await Hold.open(t, VIP4, 7000));
      for (const h of holds) assert.match(await h.ping(), /^b1 /);
      await ap.apply([lc('active')]);
      const b = await httpBatch(t, VIP4, 80, 30);
      const n = tally(b.replies);
      // b1 has 6 connections, the others 0: its share is 1/7 ÷ (1/7 + 2) ≈ 7 %.
      assert.ok((n.get('b1') ?? 0) <= 4, `b1 got ${n.get('b1') ?? 0}/30`);
      assert.ok((n.get('b2') ?? 0) >= 10 && (n.get('b3') ?? 0) >= 10);
    });
  });
});
