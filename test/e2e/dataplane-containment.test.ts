// Failure containment against the real kernel: services nft or the VIP plumbing refuses sit next to
// good ones; the good ones (and later changes) are programmed and carry traffic, the refused ones are
// reported and not retried until they change. The kernel checks (nft -c) never disturb live flows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, Topology } from '../support/netns.js';
import { Applier } from '../../src/dataplane/applier.js';
import type { DataplaneService } from '../../src/dataplane/types.js';
import {
  buildLbTopology,
  eps,
  Hold,
  httpBatch,
  VIP4,
  vipsText,
  type LbTopo,
} from './support-dataplane/topo.js';

const skip = e2eSkipReason();

const svc = (
  t: LbTopo,
  name: string,
  vip: string,
  over: Partial<DataplaneService> = {},
): DataplaneService => ({
  name,
  addresses: [vip],
  ports: [
    { port: 80, protocol: 'TCP', targetPort: 8080 },
    { port: 9000, protocol: 'TCP', targetPort: 9000 },
  ],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: eps(t, vip.includes(':') ? 6 : 4),
  ...over,
});

async function serves(t: LbTopo, vip: string): Promise<boolean> {
  const r = await httpBatch(t, vip, 80, 3);
  return r.errors === 0 && r.replies.length === 3;
}

describe('failure containment in the kernel', { skip }, () => {
  it('kernel-refused rules and an unusable VIP fail alone; good services and later changes are programmed', async () => {
    const topo = new Topology();
    try {
      const t = await buildLbTopology(topo, {});
      const ap = new Applier({ run: t.run });
      const web = svc(t, 'web', VIP4);
      await ap.apply([web]);
      const hold = await Hold.open(t, VIP4, 9000);
      assert.match(await hold.ping(), / p1$/);
      // 99999999h: nft's timeout field cannot hold it ("value too large"). ff02::1: multicast.
      const tooLong = svc(t, 'too-long', '10.200.0.14', {
        algorithm: 'persist',
        persistTimeoutSeconds: 99_999_999 * 3600,
      });
      const mcast = svc(t, 'mcast', 'ff02::1');
      const other = svc(t, 'other', '10.200.0.13');
      const r = await ap.apply([web, tooLong, mcast, other]);
      assert.deepEqual(r.failed.map((f) => [f.service, f.kind]).sort(), [
        ['mcast', 'vip'],
        ['too-long', 'rules'],
      ]);
      assert.match(ap.failed().get('too-long')!.reason, /value too large/);
      assert.match(ap.failed().get('mcast')!.reason, /multicast/);
      assert.ok(await serves(t, '10.200.0.13'), 'the good new service serves');
      assert.ok(await serves(t, VIP4), 'the existing one too');
      assert.match(await hold.ping(), / p2$/, 'its established connection was never disturbed');
      assert.equal(await serves(t, '10.200.0.14'), false, 'the refused one is not programmed');
      const vips = await vipsText(t);
      assert.match(vips, /10\.200\.0\.13/);
      assert.doesNotMatch(vips, /ff02|10\.200\.0\.14/);
      // A later, unrelated change: programmed at once, the known failure not retried.
      const later = svc(t, 'later', '10.200.0.15');
      const r2 = await ap.apply([web, tooLong, mcast, other, later]);
      assert.equal(r2.attempts, 0);
      assert.ok(await serves(t, '10.200.0.15'));
      // Fixed: retried and programmed.
      const r3 = await ap.apply([web, { ...tooLong, persistTimeoutSeconds: 60 }, other, later]);
      assert.deepEqual(r3.failed, []);
      assert.ok(await serves(t, '10.200.0.14'));
      assert.deepEqual([...ap.failed().keys()], []);
      assert.match(await hold.ping(), / p3$/);
      hold.proc.kill();
    } finally {
      await topo.cleanup();
    }
  });
});
