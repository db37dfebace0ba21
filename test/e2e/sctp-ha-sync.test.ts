// HA state sync of an SCTP association between two LB nodes, end to end (issue 12, SCTP half): the
// client's primary path (VIP1) goes through LB 1, its secondary (VIP2) through LB 2, the endpoint
// reaches each VIP through the LB that serves it. The association is set up through LB 1 only; LB 1's
// records reach LB 2 through a plain bridge in the test (the Cluster's channel comes from the ha
// branch), so LB 2 already carries the secondary path. Then LB 1 is killed and its links cut: the
// association continues through LB 2 with no line lost and no COMM_LOST.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { nsExec, Topology, waitFor } from '../support/netns.js';
import {
  echoClient,
  prepareEngineLb,
  sctpSkipReason,
  startEngine,
  USRSCTP,
  type Collected,
  type SctpPlan,
} from '../support/sctp.js';

const skip = sctpSkipReason();

const C1 = '10.206.1.2';
const C2 = '10.206.3.2';
const E1 = '10.206.2.2';
const VIPS = ['10.206.9.1', '10.206.9.2'] as const;
// prepareEngineLb reads the family, the VIPs and the prefix they share.
const PLAN = { family: 4, vips: [...VIPS, '10.206.9.3'], vipNet: '10.206.9.0/24' } as unknown as SctpPlan;

describe(
  'sctp e2e: HA state sync between two LB nodes (bridge in the test)',
  { skip, timeout: 180_000 },
  () => {
    const topo = new Topology();
    const dir = mkdtempSync(join(tmpdir(), 'ferrolb-sctp-ha-'));
    let cNs = '';
    let bNs = '';
    const lbNs: string[] = [];
    const lbDevs: string[][] = [[], []];
    const lbs: { proc: ChildProcess; out: Collected }[] = [];

    /** Relays every sync message LB `from` printed since `seen` to LB `to` as an 'apply'. */
    const relay = (from: number, to: number, seen: number): number => {
      const lines = lbs[from]!.out.lines();
      for (const l of lines.slice(seen)) {
        if (!l.startsWith('{"sync"')) continue;
        const m = (JSON.parse(l) as { sync: { type: string; records?: unknown[] } }).sync;
        if (m.type === 'publish' || m.type === 'snapshot')
          lbs[to]!.proc.stdin?.write(
            `sync ${JSON.stringify({ type: 'apply', kind: 'sctp', from: `lb${from + 1}`, records: m.records })}\n`,
          );
      }
      return lines.length;
    };
    const dump = async (i: number) => {
      const before = lbs[i]!.out.lines().length;
      lbs[i]!.proc.stdin?.write('dump\n');
      const line = await waitFor(
        'LB dump',
        () =>
          lbs[i]!.out.lines()
            .slice(before)
            .find((l) => l.startsWith('{"associations"')),
        5000,
      );
      return JSON.parse(line) as {
        associations: { id: number }[];
        stats: { dropped: Record<string, number> };
      };
    };

    before(async () => {
      cNs = await topo.addNs('c');
      bNs = await topo.addNs('b');
      for (let i = 0; i < 2; i++) lbNs.push(await topo.addNs(`l${i + 1}`));
      const c = i2(await topo.link(cNs, [`${C1}/24`], lbNs[0]!, ['10.206.1.1/24']));
      const d = i2(await topo.link(cNs, [`${C2}/24`], lbNs[1]!, ['10.206.3.1/24']));
      const e = i2(await topo.link(bNs, [`${E1}/24`], lbNs[0]!, ['10.206.2.1/24']));
      // The endpoint is single-homed (E1) and reachable from both LBs: its second link carries E1 too.
      const fl = await topo.link(bNs, [`${E1}/32`], lbNs[1]!, ['10.206.4.1/24']);
      lbDevs[0] = [c, e];
      lbDevs[1] = [d, fl.bDev];
      await nsExec(cNs, 'ip', ['route', 'add', `${VIPS[0]}/32`, 'via', '10.206.1.1']);
      await nsExec(cNs, 'ip', ['route', 'add', `${VIPS[1]}/32`, 'via', '10.206.3.1']);
      await nsExec(bNs, 'ip', ['route', 'add', `${VIPS[0]}/32`, 'via', '10.206.2.1']);
      await nsExec(bNs, 'ip', [
        'route',
        'add',
        `${VIPS[1]}/32`,
        'via',
        '10.206.4.1',
        'dev',
        fl.aDev,
        'onlink',
      ]);
      await nsExec(lbNs[1]!, 'ip', ['route', 'add', `${E1}/32`, 'dev', fl.bDev]);
      // Each LB reaches both client addresses (usrsctp picks any source for any path), over its link.
      await nsExec(lbNs[0]!, 'ip', ['route', 'add', `${C2}/32`, 'via', C1]);
      await nsExec(lbNs[1]!, 'ip', ['route', 'add', `${C1}/32`, 'via', C2]);
      for (const ns of [cNs, bNs])
        for (const k of ['all', 'default'])
          await nsExec(ns, 'sysctl', ['-qw', `net.ipv4.conf.${k}.rp_filter=0`]);
      for (let i = 0; i < 2; i++) {
        await prepareEngineLb(lbNs[i]!, PLAN, 7);
        lbs.push(
          await startEngine(topo, lbNs[i]!, dir, {
            queue: 7,
            fastPath: true,
            sync: true,
            services: [{ name: 'echo', vips: VIPS, port: 7, endpoints: [{ addresses: [E1], port: 7 }] }],
          }),
        );
      }
      topo.spawn(bNs, `${USRSCTP}/echo_server`, []);
      await new Promise((r) => setTimeout(r, 800)); // echo_server has no readiness signal
    });

    after(async () => {
      await topo.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('LB 2 holds the association LB 1 set up and carries it on after LB 1 dies', async () => {
      const { client, out, sent, send, echoed } = echoClient(topo, cNs, VIPS[0]);

      // The channel: LB 1's records reach LB 2 within 50 ms (the real one promises sub-second lag).
      let seen = 0;
      let early = 0;
      const bridge = setInterval(() => (seen = relay(0, 1, seen)), 50);
      try {
        await echoed([send('before')], 'echo through LB 1');
        await waitFor(
          'LB 2 holds it',
          async () => ((await dump(1)).associations.length === 1 ? true : undefined),
          10_000,
          200,
        );
        // The client confirms its secondary path (HEARTBEAT to VIP2, answered through LB 2's kernel fast
        // path from the replicated entries): only then can it fail over to it.
        await waitFor(
          'the secondary path carried by LB 2',
          async () => {
            const j = await nsExec(lbNs[1]!, 'nft', ['-j', 'list', 'map', 'ip', 'ferrolb_sctp', 'pathid']);
            return /"packets": [1-9]/.test(j) ? true : undefined;
          },
          60_000,
          250,
        );
        await echoed([send('synced'), send('synced')], 'echo with LB 2 holding the association');
        // The client's first path-confirmation HEARTBEATs to VIP2 leave right after COOKIE-ACK, before
        // any channel could deliver the record: LB 2 drops those (no association yet); none after.
        early = (await dump(1)).stats.dropped['no-association'] ?? 0;
      } finally {
        clearInterval(bridge);
      }

      // LB 1 dies and its links go: the association continues through LB 2 (the client's secondary
      // path, the endpoint's path to VIP2).
      lbs[0]!.proc.kill('SIGKILL');
      for (const dev of lbDevs[0]!) await nsExec(lbNs[0]!, 'ip', ['link', 'set', dev, 'down']);
      const failed = [send('after'), send('after'), send('after')];
      await echoed(failed, 'echo through LB 2 after LB 1 died');
      const st = await dump(1);
      assert.equal(st.associations.length, 1, JSON.stringify(st));
      assert.equal(st.stats.dropped['no-association'] ?? 0, early, JSON.stringify(st.stats));
      client.stdin?.end();
      await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 90_000);
      const text = out.text();
      assert.ok(!/COMM_LOST/.test(text), `the client lost its association:\n${text.slice(-2000)}`);
      for (const l of sent) assert.ok(text.includes(l), `${l} was never echoed`);
    });
  },
);

/** The LB-side device of a link. */
const i2 = (l: { bDev: string }) => l.bDev;
