// A single-source client through the LB (issue 13, item 5): the client's routes send everything over
// its first link (every VIP via link 0; link 1 only as a fallback route), so every packet the LB sees
// comes from one client address. The endpoint-side paths must stay spread over both client
// addresses (as the endpoint's own paths would be without the LB): when link 0 fails, the endpoint
// still reaches the client on its second address and the association survives. The engine runs with
// the nft fast path, as in the daemon.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology, nsExec, waitFor } from '../support/netns.js';
import {
  buildSctpBed,
  collect,
  prepareEngineLb,
  sctpSkipReason,
  startEngine,
  USRSCTP,
  type SctpPlan,
} from '../support/sctp.js';

const skip = sctpSkipReason();

const PLAN: SctpPlan = {
  family: 4,
  client: ['10.205.1.2', '10.205.3.2'],
  lbSide: ['10.205.1.1', '10.205.3.1', '10.205.2.1'],
  endpoint: '10.205.2.2',
  vips: ['10.205.9.1', '10.205.9.2', '10.205.9.3'],
  vipNet: '10.205.9.0/24',
  plen: 24,
};

describe(
  'sctp e2e: single-source client keeps multihoming through the LB',
  { skip, timeout: 180_000 },
  () => {
    const topo = new Topology();
    const dir = mkdtempSync(join(tmpdir(), 'ferrolb-sctp-ss-'));
    let cNs = '';
    let lbNs = '';
    let bNs = '';
    let lbDevs: readonly string[] = [];
    let lbOut: ReturnType<typeof collect>;
    let lbIn: NodeJS.WritableStream | undefined;

    before(async () => {
      ({ c: cNs, lb: lbNs, b: bNs, lbDevs } = await buildSctpBed(topo, PLAN));
      // Every VIP over link 0; link 1 only when link 0 has no carrier.
      await nsExec(cNs, 'sysctl', ['-qw', 'net.ipv4.conf.all.ignore_routes_with_linkdown=1']);
      for (const v of PLAN.vips) {
        await nsExec(cNs, 'ip', ['route', 'del', `${v}/32`]);
        await nsExec(cNs, 'ip', ['route', 'add', `${v}/32`, 'via', PLAN.lbSide[0], 'metric', '10']);
        await nsExec(cNs, 'ip', ['route', 'add', `${v}/32`, 'via', PLAN.lbSide[1], 'metric', '20']);
      }
      await prepareEngineLb(lbNs, PLAN, 9);
      const e = await startEngine(topo, lbNs, dir, {
        queue: 9,
        fastPath: true,
        limits: { closeLingerMs: 500 },
        services: [
          { name: 'echo', vips: PLAN.vips, port: 7, endpoints: [{ addresses: [PLAN.endpoint], port: 7 }] },
        ],
      });
      lbOut = e.out;
      lbIn = e.proc.stdin ?? undefined;
      topo.spawn(bNs, `${USRSCTP}/echo_server`, []);
      await new Promise((r) => setTimeout(r, 800));
    });

    after(async () => {
      await topo.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('survives a cut of the link it sends everything over', async () => {
      const client = topo.spawn(cNs, `${USRSCTP}/client`, [PLAN.vips[0], '7']);
      const out = collect(client);
      let n = 0;
      const send = async (label: string, count: number, ms = 60_000) => {
        const lines = Array.from({ length: count }, () => `${label}-${n++}`);
        for (const l of lines) client.stdin?.write(`${l}\n`);
        await waitFor(
          `echo of ${lines.join(', ')}`,
          () => (lines.every((l) => out.text().includes(l)) ? true : undefined),
          ms,
        );
      };
      await send('before', 3);
      // Let heartbeats and data run a while with one source address only.
      for (let i = 0; i < 4; i++) {
        await send('steady', 1);
        await new Promise((r) => setTimeout(r, 500));
      }
      const before = lbOut.lines().length;
      lbIn?.write('dump\n');
      const line = await waitFor(
        'dump',
        () =>
          lbOut
            .lines()
            .slice(before)
            .find((l) => l.startsWith('{"associations"')),
        5000,
      );
      const a = (
        JSON.parse(line) as {
          associations: {
            paths: { side: string; peer: string; vip: string; mapsTo: string; packets: number }[];
          }[];
        }
      ).associations[0];
      assert.ok(a, line);
      // The endpoint-side paths still name both client addresses.
      const dests = new Set(
        a.paths.filter((p) => p.side === 'endpoint').map((p) => p.mapsTo.split(' → ')[1]),
      );
      assert.deepEqual([...dests].sort(), [...PLAN.client].sort(), `endpoint-side paths collapsed: ${line}`);

      // The one source the client uses (usrsctp chooses it): cut the LB's link towards it. The
      // endpoint can then reach the client only on its other address.
      const counted = a.paths.filter((p) => p.side === 'client' && p.packets > 0).map((p) => p.peer);
      const source = counted[0] ?? a.paths[0]?.peer;
      assert.ok(source && new Set(counted).size <= 1, `not single-source: ${counted.join(', ')}`);
      const dev = lbDevs[source === PLAN.client[0] ? 0 : 1] as string;
      await nsExec(lbNs, 'ip', ['link', 'set', dev, 'down']);
      await send('cut', 3, 90_000);
      await nsExec(lbNs, 'ip', ['link', 'set', dev, 'up']);
      await send('restored', 1, 90_000);
      client.stdin?.end();
      await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 90_000);
      assert.ok(!/COMM_LOST/.test(out.text()), out.text().slice(-1500));
    });
  },
);
