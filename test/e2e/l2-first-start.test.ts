// The very first start of a Layer 2 cluster with the data plane on: three real daemons start at once
// in three namespaces on one bridge, their service addresses already in the config. The client asks
// for every address (arping every 50 ms) and tshark records the bridge from before the first daemon
// starts: the data plane adds the VIP routes (which the kernel would answer ARP for on every
// interface), so the announcer's suppression tables must be in the kernel before that. Asserts that
// over the whole start each address is answered by exactly one MAC, its owner's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { startClusterNode, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { L2Bed, type CapturedFrame } from '../support/l2.js';
import type { ClusterStatus } from '../../src/cluster/status.js';

const skip = e2eSkipReason();
const VIPS = ['10.79.0.100', '10.79.0.101', '10.79.0.102'];
const LATE = '10.79.0.103';
const API_PORT = 11190;

describe(
  'Layer 2 first start with the data plane: no non-owner ever answers',
  { skip, timeout: 120_000 },
  () => {
    const bed = new L2Bed();
    const dirs: ReturnType<typeof tempDir>[] = [];
    const daemons: Daemon[] = [];
    const key = randomBytes(32).toString('base64');

    const config = (dir: string, vips: readonly string[] = VIPS) => `
apiVersion: ferrolb.io/v1
kind: Cluster
metadata: {name: default}
spec:
  authKeyFile: ${join(dir, 'cluster.key')}
  heartbeatInterval: 100ms
  nodes:
${bed.lbs.map((l) => `    - {name: ${l.name}, address: ${l.v4}}`).join('\n')}
---
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: l2}
spec: {addresses: ["10.79.0.96/28"]}
---
apiVersion: ferrolb.io/v1
kind: L2Advertisement
metadata: {name: l2}
spec: {ipAddressPools: [l2]}
${vips
  .map(
    (v, i) => `---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: svc${i}}
spec: {addresses: ["${v}"], ports: [{port: 80}], endpoints: [{address: 10.79.0.2}]}
`,
  )
  .join('')}`;

    const status = async (ns: string): Promise<ClusterStatus> =>
      JSON.parse(
        await nsExec(ns, 'curl', ['-sf', '--max-time', '3', `http://127.0.0.1:${API_PORT}/api/v1/cluster`]),
      ) as ClusterStatus;

    let frames: CapturedFrame[] = [];
    const owners = new Map<string, string>();

    before(async () => {
      await bed.build(3, [], { vipDevice: false });
      const cap = await bed.capture('first-start');
      // Requests from the first moment: every 50 ms per address, for the whole start.
      const pingers: ChildProcess[] = VIPS.map((v) =>
        bed.t.spawn(bed.client, 'arping', ['-q', '-c', '400', '-W', '0.05', '-i', bed.clientDev, v]),
      );
      try {
        await Promise.all(
          bed.lbs.map(async (lb, i) => {
            const d = tempDir(`ferrolb-l2first-${lb.name}-`);
            dirs[i] = d;
            writeFileSync(join(d.path, 'cluster.key'), key + '\n');
            writeFileSync(join(d.path, 'cfg.yaml'), config(d.path));
            daemons[i] = await startClusterNode(lb.ns, d.path, lb.name, `127.0.0.1:${API_PORT}`);
          }),
        );
        // Every address owned, all three nodes agreeing.
        await waitFor(
          'owners agreed',
          async () => {
            const views = await Promise.all(bed.lbs.map((l) => status(l.ns)));
            const ref = views[0]!.owners;
            if (ref.length !== VIPS.length || ref.some((o) => !o.owner)) return undefined;
            for (const v of views)
              if (v.owners.some((o) => ref.find((r) => r.address === o.address)?.owner !== o.owner))
                return undefined;
            for (const o of ref) owners.set(o.address, o.owner!);
            return true;
          },
          30_000,
          100,
        );
        // A few more seconds of requests with the owners in place (and the burst's tail).
        await new Promise((r) => setTimeout(r, 3000));
      } finally {
        for (const p of pingers) if (p.exitCode === null) p.kill('SIGKILL');
        frames = await cap.stop();
      }
    });

    after(async () => {
      await Promise.all(daemons.map((d) => stopDaemon(d, 'SIGKILL')));
      await bed.cleanup();
      for (const d of dirs) d.remove();
    });

    it('every address is answered, and only ever by its owner', () => {
      const macOf = new Map(bed.lbs.map((l) => [l.name, l.mac]));
      for (const v of VIPS) {
        const replies = frames.filter((f) => f.kind === 'arp-reply' && f.sender === v);
        const from = [...new Set(replies.map((f) => f.src))].sort();
        assert.deepEqual(from, [macOf.get(owners.get(v)!)], `${v}: answered by ${from.join(', ')}`);
      }
      const requests = frames.filter((f) => f.kind === 'arp-request' && VIPS.includes(f.target));
      assert.ok(requests.length > 3 * 40, `the client asked from the first moment (${requests.length})`);
    });

    it('an owner SIGKILLed returns with its data plane: zero moves, it owns nothing, one MAC per address', async () => {
      const victim = owners.get(VIPS[0]!)!;
      const i = bed.lbs.findIndex((l) => l.name === victim);
      const live = bed.lbs.filter((l) => l.name !== victim);
      await stopDaemon(daemons[i]!, 'SIGKILL');
      const killed = Date.now();
      const ownersNow = async (ns: string) =>
        new Map((await status(ns)).owners.map((o) => [o.address, o.owner ?? '']));
      const taken = await waitFor(
        'takeover',
        async () => {
          const m = await ownersNow(live[0]!.ns);
          return [...m.values()].every((o) => o && o !== victim) ? m : undefined;
        },
        10_000,
        50,
      );
      // A dead node's kernel answers until its owned set expires (liveness, 5 s: docs/l2.md); a
      // restart inside that window adopts it. After it, the returning node must stay silent.
      await new Promise((r) => setTimeout(r, Math.max(0, killed + 5500 - Date.now())));
      // From before its restart: the kernel state it left (VIP routes, suppression sets) is adopted.
      const cap = await bed.capture('return');
      // Asked all along its return: its adopted kernel state must not answer for what others took.
      const asking = VIPS.map((v) =>
        bed.t.spawn(bed.client, 'arping', ['-q', '-c', '100', '-W', '0.05', '-i', bed.clientDev, v]),
      );
      daemons[i] = await startClusterNode(bed.lbs[i]!.ns, dirs[i]!.path, victim, `127.0.0.1:${API_PORT}`);
      await waitFor(
        'back in the cluster',
        async () => ((await status(bed.lbs[i]!.ns)).synced ? true : undefined),
        20_000,
        100,
      );
      await new Promise((r) => setTimeout(r, 2000));
      for (const l of bed.lbs) assert.deepEqual(await ownersNow(l.ns), taken, `${l.name}: zero moves`);
      assert.equal((await status(bed.lbs[i]!.ns)).owned, 0);
      const macOf = new Map(bed.lbs.map((l) => [l.name, l.mac]));
      for (const v of VIPS) assert.deepEqual(await bed.arpingMacs(v), [macOf.get(taken.get(v)!)], v);
      for (const p of asking) if (p.exitCode === null) p.kill('SIGKILL');
      const seen = await cap.stop();
      const fromVictim = seen.filter(
        (f) => f.kind === 'arp-reply' && f.src === bed.lbs[i]!.mac && VIPS.includes(f.sender),
      );
      const t0 = seen[0]?.time ?? 0;
      assert.deepEqual(
        fromVictim.map((f) => `${(f.time - t0).toFixed(3)} ${f.sender} → ${f.target}`),
        [],
        `the returning node ${victim} never answers (capture from before its restart)`,
      );
      for (const [a, o] of taken) owners.set(a, o);
    });

    it('an address added and then removed while running (SIGHUP): only its owner ever answers', async () => {
      const cap = await bed.capture('late');
      const pinger = bed.t.spawn(bed.client, 'arping', [
        '-q',
        '-c',
        '300',
        '-W',
        '0.05',
        '-i',
        bed.clientDev,
        LATE,
      ]);
      const hup = (vips: readonly string[]) => {
        for (const [i, d] of dirs.entries()) {
          writeFileSync(join(d.path, 'cfg.yaml'), config(d.path, vips));
          daemons[i]!.proc.kill('SIGHUP');
        }
      };
      let owner = '';
      try {
        await new Promise((r) => setTimeout(r, 500));
        hup([...VIPS, LATE]);
        owner = await waitFor(
          'late address owned',
          async () => {
            const o = (await status(bed.lbs[0]!.ns)).owners.find((x) => x.address === LATE)?.owner;
            return o ?? undefined;
          },
          15_000,
          100,
        );
        await new Promise((r) => setTimeout(r, 2000));
        hup(VIPS);
        await waitFor(
          'late address gone',
          async () =>
            (await status(bed.lbs[0]!.ns)).owners.some((x) => x.address === LATE) ? undefined : true,
          15_000,
          100,
        );
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        if (pinger.exitCode === null) pinger.kill('SIGKILL');
      }
      const late = await cap.stop();
      const from = [
        ...new Set(late.filter((f) => f.kind === 'arp-reply' && f.sender === LATE).map((f) => f.src)),
      ];
      const name = new Map(bed.lbs.map((l) => [l.mac, l.name]));
      const t0 = late[0]?.time ?? 0;
      const trace = late
        .filter((f) => f.kind === 'arp-reply' && f.sender === LATE)
        .map((f) => `${(f.time - t0).toFixed(3)} ${name.get(f.src)} → ${f.target}`);
      assert.deepEqual(
        from,
        [bed.lbs.find((l) => l.name === owner)!.mac],
        `owner ${owner}, answered by ${from.map((m) => name.get(m)).join(', ')}: ${trace.join('; ')}`,
      );
    });
  },
);
