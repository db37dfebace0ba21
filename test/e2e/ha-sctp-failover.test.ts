// SCTP association replication through `ferrolb run` (issue 12, the seed use case): two daemons in
// one Cluster, the association's records carried by the Cluster's authenticated sync channel (the
// SCTP worker ↔ cluster worker relay, src/shell/sync-relay.ts), not by the test. The client's
// primary path (VIP1) goes through LB 1, its secondary (VIP2) through LB 2; the endpoint reaches each
// VIP through the LB that serves it. The association is set up through LB 1 only; LB 2 holds it from
// the channel. LB 1 is SIGKILLed and its links cut: the association continues through LB 2 with no
// line lost and no COMM_LOST.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsExec, Topology, waitFor } from '../support/netns.js';
import { startClusterNode, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { echoClient, sctpSkipReason, USRSCTP } from '../support/sctp.js';
import type { ClusterStatus } from '../../src/cluster/status.js';

const skip = sctpSkipReason();
const NET = '10.208';
const C1 = `${NET}.1.2`;
const C2 = `${NET}.3.2`;
const E1 = `${NET}.2.2`;
const VIPS = [`${NET}.9.1`, `${NET}.9.2`] as const;
const NODES = [`${NET}.5.1`, `${NET}.5.2`] as const;
const API_PORT = 11192;

const config = (keyFile: string) => `apiVersion: ferrolb.io/v1
kind: Cluster
metadata: {name: sctp-ha}
spec:
  authKeyFile: ${keyFile}
  heartbeatInterval: 100ms
  nodes:
    - {name: lb1, address: ${NODES[0]}}
    - {name: lb2, address: ${NODES[1]}}
---
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: sctp-vips}
spec: {addresses: ["${NET}.9.0/24"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: echo}
spec:
  addresses: ["${VIPS[0]}"]
  secondaryAddresses: ["${VIPS[1]}"]
  ports: [{port: 7, protocol: SCTP}]
  mode: fullnat
  endpoints: [{address: ${E1}}]
`;

interface SctpView {
  running: boolean;
  associations: unknown[];
  sync?: { received: number; applied: number; standby: number; sent: number };
}

describe(
  'HA: an SCTP association survives the SIGKILL of its LB through ferrolb run',
  { skip, timeout: 300_000 },
  () => {
    const topo = new Topology();
    const lbNs: string[] = [];
    const lbDevs: string[][] = [[], []];
    const daemons: Daemon[] = [];
    const dirs: ReturnType<typeof tempDir>[] = [];
    let cNs = '';
    const get = async <T>(i: number, path: string): Promise<T | undefined> => {
      const r = await nsExec(lbNs[i]!, 'curl', [
        '-sf',
        '--max-time',
        '2',
        `http://${NODES[i]}:${API_PORT}${path}`,
      ]).catch(() => '');
      return r ? (JSON.parse(r) as T) : undefined;
    };

    before(async () => {
      const c = await topo.addNs('c');
      const b = await topo.addNs('b');
      for (let i = 0; i < 2; i++) lbNs.push(await topo.addNs(`l${i + 1}`));
      const [l1, l2] = lbNs as [string, string];
      const lc1 = await topo.link(c, [`${C1}/24`], l1, [`${NET}.1.1/24`]);
      const lc2 = await topo.link(c, [`${C2}/24`], l2, [`${NET}.3.1/24`]);
      const le1 = await topo.link(b, [`${E1}/24`], l1, [`${NET}.2.1/24`]);
      // The endpoint is single-homed (E1) and reachable from both LBs: its second link carries E1 too.
      const le2 = await topo.link(b, [`${E1}/32`], l2, [`${NET}.4.1/24`]);
      // The Cluster's own link (heartbeats, claims, state sync).
      const ll = await topo.link(l1, [`${NODES[0]}/24`], l2, [`${NODES[1]}/24`]);
      lbDevs[0] = [lc1.bDev, le1.bDev, ll.aDev];
      lbDevs[1] = [lc2.bDev, le2.bDev, ll.bDev];
      await nsExec(c, 'ip', ['route', 'add', `${VIPS[0]}/32`, 'via', `${NET}.1.1`]);
      await nsExec(c, 'ip', ['route', 'add', `${VIPS[1]}/32`, 'via', `${NET}.3.1`]);
      await nsExec(b, 'ip', ['route', 'add', `${VIPS[0]}/32`, 'via', `${NET}.2.1`]);
      await nsExec(b, 'ip', [
        'route',
        'add',
        `${VIPS[1]}/32`,
        'via',
        `${NET}.4.1`,
        'dev',
        le2.aDev,
        'onlink',
      ]);
      await nsExec(l2, 'ip', ['route', 'add', `${E1}/32`, 'dev', le2.bDev]);
      // Each LB reaches both client addresses (usrsctp picks any source for any path), over its link.
      await nsExec(l1, 'ip', ['route', 'add', `${C2}/32`, 'via', C1]);
      await nsExec(l2, 'ip', ['route', 'add', `${C1}/32`, 'via', C2]);
      for (const ns of [c, b])
        for (const k of ['all', 'default'])
          await nsExec(ns, 'sysctl', ['-qw', `net.ipv4.conf.${k}.rp_filter=0`]);
      const key = randomBytes(32).toString('base64');
      for (let i = 0; i < 2; i++) {
        const dir = tempDir(`ferrolb-ha-sctp-${i + 1}-`);
        dirs.push(dir);
        writeFileSync(join(dir.path, 'key'), key + '\n');
        writeFileSync(join(dir.path, 'cfg.yaml'), config(join(dir.path, 'key')));
      }
      daemons.push(
        ...(await Promise.all(
          [0, 1].map((i) =>
            startClusterNode(lbNs[i]!, dirs[i]!.path, `lb${i + 1}`, `${NODES[i]}:${API_PORT}`),
          ),
        )),
      );
      topo.spawn(b, `${USRSCTP}/echo_server`, []);
      cNs = c;
      await new Promise((r) => setTimeout(r, 800)); // echo_server has no readiness signal
    });

    after(async () => {
      await Promise.all(daemons.map((d) => stopDaemon(d, 'SIGKILL')));
      await topo.cleanup();
      for (const d of dirs) d.remove();
    });

    it('LB 2 holds the association from the Cluster channel and carries it after LB 1 dies', async () => {
      await waitFor(
        'both nodes alive to each other and synced',
        async () => {
          const s = await Promise.all([0, 1].map((i) => get<ClusterStatus>(i, '/api/v1/cluster')));
          // Both alive to each other (with no live peer a node is synced alone and replicates to nobody).
          return s.every((x) => x?.synced && x.quorum?.alive === 2) ? true : undefined;
        },
        60_000,
        200,
      );
      const { client, out, sent, send, echoed } = echoClient(topo, cNs, VIPS[0]);
      await echoed([send('before')], 'echo through LB 1');
      await waitFor(
        'LB 2 holds it (from the Cluster channel)',
        async () => ((await get<SctpView>(1, '/api/v1/sctp'))?.associations.length === 1 ? true : undefined),
        10_000,
        200,
      ).catch(async (e: Error) => {
        throw new Error(
          `${e.message}: lb1 ${JSON.stringify((await get<SctpView>(0, '/api/v1/sctp'))?.sync)} ${JSON.stringify((await get<ClusterStatus>(0, '/api/v1/cluster'))?.sync)} lb2 ${JSON.stringify(await get(1, '/api/v1/sctp'))} ${JSON.stringify((await get<ClusterStatus>(1, '/api/v1/cluster'))?.sync)}`,
        );
      });
      // The client confirms its secondary path (HEARTBEAT to VIP2, answered through LB 2's kernel fast
      // path from the replicated entries): only then can it fail over to it.
      await waitFor(
        'the secondary path carried by LB 2',
        async () => {
          const j = await nsExec(lbNs[1]!, 'nft', [
            '-j',
            'list',
            'map',
            'ip',
            'ferrolb_sctp',
            'pathid',
          ]).catch(() => '');
          return /"packets": [1-9]/.test(j) ? true : undefined;
        },
        60_000,
        250,
      );
      await echoed([send('synced'), send('synced')], 'echo with LB 2 holding the association');

      daemons[0]!.proc.kill('SIGKILL');
      for (const dev of lbDevs[0]!) await nsExec(lbNs[0]!, 'ip', ['link', 'set', dev, 'down']);
      await echoed(
        [send('after'), send('after'), send('after')],
        'echo through LB 2 after LB 1 died',
        120_000,
      ).catch(async (e: Error) => {
        throw new Error(
          `${e.message}: lb2 ${JSON.stringify(await get(1, '/api/v1/sctp'))}\nclient: ${out.text().slice(-1500)}`,
        );
      });
      const st = await get<SctpView>(1, '/api/v1/sctp');
      assert.equal(st?.associations.length, 1, JSON.stringify(st));
      client.stdin?.end();
      await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 90_000);
      const text = out.text();
      assert.ok(!/COMM_LOST/.test(text), `the client lost its association:\n${text.slice(-2000)}`);
      for (const l of sent) assert.ok(text.includes(l), `${l} was never echoed`);
    });
  },
);
