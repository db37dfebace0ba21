// Source ranges (loadBalancerSourceRanges) in the kernel: a client namespace with two addresses per
// family, only one of them inside the service's ranges; ranges changed live, then removed; the drop
// counter; a local client on the LB node (output hook); replies towards the VIP in fullnat.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, nsExec, Topology } from '../support/netns.js';
import { Applier } from '../../src/dataplane/applier.js';
import type { DataplaneService } from '../../src/dataplane/types.js';
import {
  buildLbTopology,
  webService,
  CLIENT4,
  CLIENT6,
  Hold,
  httpBatch,
  udpBatch,
  VIP4,
  VIP6,
  type LbTopo,
} from './support-dataplane/topo.js';

const skip = e2eSkipReason();
/** The client's second address per family (the first is CLIENT4 / CLIENT6). */
const OTHER4 = '10.201.1.3';
const OTHER6 = 'fd01:1::3';

async function withTopo(opts: Parameters<typeof buildLbTopology>[1], body: (t: LbTopo) => Promise<void>) {
  const topo = new Topology();
  try {
    const t = await buildLbTopology(topo, opts);
    const dev = (await nsExec(t.client, 'ip', ['-o', '-4', 'addr', 'show'])).match(
      new RegExp(`^\\d+: (\\S+)\\s+inet ${CLIENT4.replace(/\./g, '\\.')}/`, 'm'),
    )?.[1];
    assert.ok(dev, 'client interface');
    await nsExec(t.client, 'ip', ['addr', 'add', `${OTHER4}/24`, 'dev', dev]);
    await nsExec(t.client, 'ip', ['addr', 'add', `${OTHER6}/64`, 'dev', dev, 'nodad']);
    await body(t);
  } finally {
    await topo.cleanup();
  }
}

/** Every one of `n` requests answered / none answered (each refused one costs the client's 3 s timeout). */
async function reaches(t: LbTopo, vip: string, from: string, n: number): Promise<boolean> {
  const b = await httpBatch(t, vip, 80, n, { from });
  assert.ok(b.errors === 0 || b.replies.length === 0, `all or nothing from ${from}: ${JSON.stringify(b)}`);
  return b.errors === 0;
}

const drops = async (ap: Applier) =>
  new Map((await ap.sourceRangeDrops()).map((d) => [d.family, d.packets] as const));

describe('source ranges in the kernel', { skip, timeout: 240_000 }, () => {
  it('only clients inside the ranges get through; live changes admit and cut (established flows too); removal opens; drops counted', async () => {
    await withTopo({}, async (t) => {
      const ap = new Applier({ run: t.run });
      // A second service with a /0, ::/0 and a merged non-prefix range: their kernel text must read back
      // exactly as compiled (the fresh applier below finds nothing to do).
      const other: DataplaneService = {
        ...webService(t),
        name: 'default/other',
        addresses: ['10.200.0.11', 'fd00:200::11'],
        sourceRanges: ['0.0.0.0/0', '::/0', '192.0.2.1/32', '192.0.2.2/31', '192.0.2.4/32'],
      };
      const first = { sourceRanges: [`${CLIENT4}/32`, '192.0.2.0/24', `${CLIENT6}/128`, 'fd01:9::/48'] };
      await ap.apply([webService(t, first), other]);
      assert.equal((await new Applier({ run: t.run }).plan([webService(t, first), other])).statements, 0);
      assert.deepEqual(
        await drops(ap),
        new Map([
          [4, 0],
          [6, 0],
        ]),
      );

      for (const [vip, inside, outside, family] of [
        [VIP4, CLIENT4, OTHER4, 4],
        [VIP6, CLIENT6, OTHER6, 6],
      ] as const) {
        assert.equal(await reaches(t, vip, inside, 6), true, `${inside} is inside the ranges`);
        assert.equal(await reaches(t, vip, outside, 2), false, `${outside} is not`);
        const u = await udpBatch(t, vip, 53, 2, { from: outside });
        assert.equal(u.replies.length, 0, 'UDP refused too');
        assert.ok((await drops(ap)).get(family)! >= 4, `IPv${family} drops counted`);
        // The other service (its own ranges: everyone) is not affected.
        assert.equal(await reaches(t, family === 4 ? '10.200.0.11' : 'fd00:200::11', outside, 3), true);
      }
      // A client on the LB node itself goes through the output hook; its source is the VIP.
      const local = await httpBatch(t, VIP4, 80, 1, { ns: t.lb });
      assert.equal(local.replies.length, 0, 'a local client outside the ranges is refused');

      const held = await Hold.open(t, VIP4, 7000, CLIENT4);
      assert.match(await held.ping(), / p1$/);

      // Swap: now only the second addresses are allowed. Element changes only, no reload; the held
      // flow of the now-refused client is deleted from conntrack, and its next packet is refused.
      const swapped = { sourceRanges: [`${OTHER4}/32`, `${OTHER6}/128`] };
      const r = await ap.apply([webService(t, swapped), other]);
      assert.ok(!r.full && r.statements <= 4, `${r.statements} statements`);
      assert.ok(r.purged >= 1, `${r.purged} flows purged`);
      await assert.rejects(held.ping(3000), 'the established flow of a now-disallowed client is cut');
      assert.equal(await reaches(t, VIP4, OTHER4, 3), true);
      assert.equal(await reaches(t, VIP6, OTHER6, 3), true);
      assert.equal(await reaches(t, VIP4, CLIENT4, 2), false);
      assert.equal(await reaches(t, VIP6, CLIENT6, 2), false);

      // Removed: everyone; the filter chains go away with the last restricted service.
      await ap.apply([webService(t), { ...other, sourceRanges: [] }]);
      for (const from of [CLIENT4, OTHER4]) assert.equal(await reaches(t, VIP4, from, 3), true, from);
      for (const from of [CLIENT6, OTHER6]) assert.equal(await reaches(t, VIP6, from, 3), true, from);
      assert.equal((await httpBatch(t, VIP4, 80, 1, { ns: t.lb })).errors, 0, 'local client');
      assert.notEqual((await t.run('nft', ['list', 'chain', 'inet', 'ferrolb', 'srcpre'])).code, 0);
      assert.ok((await drops(ap)).get(4)! > 0, 'the counter outlives the chains');
      const open = [webService(t), { ...other, sourceRanges: [] }];
      assert.equal((await new Applier({ run: t.run }).plan(open)).statements, 0, 'adopted as is');
    });
  });

  it('fullnat: replies towards the VIP are never caught, even from the service port; TCP/UDP, IPv4/IPv6', async () => {
    await withTopo({}, async (t) => {
      const ap = new Applier({ run: t.run });
      // No snatAddresses: endpoints see the VIP (and route it back via the LB), so their replies go to
      // VIP:<client port>. A client sending from port 53 to the service's port 53 makes every reply look
      // like (VIP . udp . 53) from an endpoint outside the ranges — only a stateful rule (`ct state
      // new`) lets them through (the same rule without it drops them: checked by hand on this kernel).
      await ap.apply([webService(t, { mode: 'fullnat', sourceRanges: [`${CLIENT4}/32`, `${CLIENT6}/128`] })]);
      for (const [vip, inside] of [
        [VIP4, CLIENT4],
        [VIP6, CLIENT6],
      ] as const) {
        // TCP first: it also settles neighbour discovery on every hop (a fresh IPv6 topology loses
        // an occasional first datagram, with or without ranges; TCP retransmits, UDP does not).
        assert.equal(await reaches(t, vip, inside, 6), true);
        const u = await udpBatch(t, vip, 53, 6, { from: inside, sport: 53 });
        assert.equal(u.errors, 0, `UDP from ${inside}:53 answered: ${JSON.stringify(u)}`);
        for (const reply of u.replies) assert.match(reply, /^b\d ping$/);
      }
      assert.deepEqual(
        await drops(ap),
        new Map([
          [4, 0],
          [6, 0],
        ]),
        'no reply was dropped',
      );
      assert.equal(await reaches(t, VIP4, OTHER4, 2), false);
      assert.equal((await udpBatch(t, VIP6, 53, 2, { from: OTHER6, sport: 53 })).replies.length, 0);
    });
  });
});
