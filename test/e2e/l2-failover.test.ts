// Layer 2 failover with real client traffic (the bench's bed: a bridge, a client, a backend, three
// daemons with the data plane on, fullnat to the backend): the owner node dies (link down, SIGKILL),
// new client TCP connections work again within a few heartbeats; the node returns (zero moves); the
// current owner is killed in turn until a node that was killed and returned owns the address again,
// and new connections through it work at once. tshark on the bridge: every frame that claims the
// address (ARP reply, gratuitous ARP) comes from the MAC of the owner of that phase. Also: 100 more
// addresses spread over the three nodes, each answered by exactly its owner; the owner's link down
// with its daemon alive (it loses quorum and falls silent, the others take over, zero moves after).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { startClusterNode, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { captureBridge, type CapturedFrame } from '../support/l2.js';
import { Bed } from '../../bench/l2.js';
import type { L2View } from '../../src/l2/view.js';
import type { ClusterStatus } from '../../src/cluster/status.js';

const skip = e2eSkipReason();
const NAMES = ['lb1', 'lb2', 'lb3'] as const;
const API_PORT = 11191;
const MANY = 100;

describe('Layer 2 failover with client traffic (3 daemons, fullnat)', { skip, timeout: 240_000 }, () => {
  const bed = new Bed();
  const key = randomBytes(32).toString('base64');
  const dirs = new Map<string, ReturnType<typeof tempDir>>();
  const daemons = new Map<string, Daemon>();
  const macs = new Map<string, string>();
  let vip = '';
  let backend: ChildProcess | undefined;

  /** 100 more services on .151-.250 of the bridge's /24 (their own pool), fullnat to the same backend. */
  const manyAddr = (i: number) => `${bed.net}.${151 + i}`;
  const many = () =>
    `---
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: many}
spec: {addresses: ["${manyAddr(0)}-${manyAddr(MANY - 1)}"]}
---
apiVersion: ferrolb.io/v1
kind: L2Advertisement
metadata: {name: many}
spec: {ipAddressPools: [many]}
` +
    Array.from(
      { length: MANY },
      (_, i) => `---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: m${i}}
spec: {addresses: ["${manyAddr(i)}"], mode: fullnat, ports: [{port: 80, targetPort: 8080}], endpoints: [{address: ${bed.net}.50}]}
`,
    ).join('');
  /** Owner per address as node `n` sees it (its API from inside its own namespace). */
  const owners = async (n: string): Promise<Map<string, string | null>> => {
    const lb = bed.lb.get(n)!;
    const v = JSON.parse(
      await nsExec(lb.ns, 'curl', ['-sf', '--max-time', '3', `http://${lb.addr}:${API_PORT}/api/v1/l2`]),
    ) as L2View;
    return new Map(v.items.map((e) => [e.address, e.owner]));
  };

  /** What each node thinks (for a failed wait): members' states and flags, what it owns, the VIP's owner. */
  const views = async (): Promise<string> => {
    const out: string[] = [];
    for (const n of NAMES) {
      const lb = bed.lb.get(n)!;
      const st = await nsExec(lb.ns, 'curl', [
        '-sf',
        '--max-time',
        '3',
        `http://${lb.addr}:${API_PORT}/api/v1/cluster`,
      ])
        .then((t) => JSON.parse(t) as ClusterStatus)
        .catch(() => undefined);
      out.push(
        st
          ? `${n}: synced=${st.synced} owned=${st.owned} vip=${st.owners.find((o) => o.address === vip)?.owner} members=${st.members.map((m) => `${m.name}:${m.state}:${m.synced ? 's' : '-'}${m.quorum ? 'q' : '-'}:${m.claims ?? '?'}`).join(',')}`
          : `${n}: no answer`,
      );
    }
    return out.join(' | ');
  };
  const explain = async (e: Error): Promise<never> => {
    throw new Error(`${e.message}: ${await views()}`);
  };

  const start = async (n: string) => {
    const dir = dirs.get(n)!.path;
    writeFileSync(join(dir, 'key'), key + '\n');
    writeFileSync(join(dir, 'cfg.yaml'), bed.clusterConfig('e2e', join(dir, 'key'), 100, vip) + many());
    daemons.set(n, await startClusterNode(bed.lb.get(n)!.ns, dir, n, `${bed.lb.get(n)!.addr}:${API_PORT}`));
  };

  before(async () => {
    await bed.build();
    vip = `${bed.net}.100`;
    backend = bed.serve(bed.backend, 8080, 'backend');
    for (const n of NAMES) {
      dirs.set(n, tempDir(`ferrolb-l2fo-${n}-`));
      const lb = bed.lb.get(n)!;
      const j = JSON.parse(await nsExec(lb.ns, 'ip', ['-j', 'link', 'show', lb.dev])) as {
        address: string;
      }[];
      macs.set(n, j[0]!.address);
    }
    await Promise.all(NAMES.map(start));
  });

  after(async () => {
    await Promise.all([...daemons.values()].map((d) => stopDaemon(d, 'SIGKILL')));
    await bed.t.cleanup();
    for (const d of dirs.values()) d.remove();
  });

  it('a reset connection does not take the backend down (the bench backend used to exit on ECONNRESET)', async () => {
    const reset = await nsExec(bed.client, process.execPath, [
      '-e',
      // Read the answer, then reset instead of closing: the server's socket sees ECONNRESET.
      `const s=require('net').connect({host:process.argv[1],port:8080});` +
        `s.on('data',()=>{s.resetAndDestroy();setTimeout(()=>process.exit(0),200)});s.on('error',()=>process.exit(3));`,
      `${bed.net}.50`,
    ]).then(
      () => 'ok',
      (e: Error) => e.message,
    );
    assert.equal(reset, 'ok');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(backend?.exitCode, null, 'the backend server is still running');
    const again = await nsExec(bed.client, 'curl', [
      '-s',
      '--max-time',
      '3',
      `telnet://${bed.net}.50:8080`,
    ]).catch((e: { stdout?: string }) => e.stdout ?? '');
    assert.match(again, /backend/);
  });

  it(`${MANY} addresses over three nodes: spread over all three, each answered by exactly its owner`, async () => {
    const all = await waitFor(
      'agreement on every address',
      async () => {
        const views = await Promise.all(NAMES.map(owners));
        const ref = views[0]!;
        if (ref.size !== MANY + 1 || [...ref.values()].some((o) => !o)) return undefined;
        for (const v of views) if ([...v].some(([a, o]) => ref.get(a) !== o)) return undefined;
        return ref;
      },
      60_000,
      200,
    ).catch(explain);
    const loads = NAMES.map((n) => [...all.values()].filter((o) => o === n).length);
    // Rendezvous: a third each in expectation (±5 at this count); far from it means no spread.
    for (const l of loads) assert.ok(l >= 20, `loads ${loads.join(', ')}`);
    const name = new Map([...macs].map(([n, m]) => [m, n]));
    const wrong: string[] = [];
    for (let i = 0; i < MANY; i += 10) {
      const batch = Array.from({ length: 10 }, (_, k) => manyAddr(i + k));
      const answers = await Promise.all(
        batch.map((a) =>
          nsExec(bed.client, 'arping', ['-c', '2', '-W', '0.2', '-w', '3', a], { timeoutMs: 10_000 }).catch(
            (e: { stdout?: string }) => e.stdout ?? '',
          ),
        ),
      );
      batch.forEach((a, k) => {
        const from = [
          ...new Set([...answers[k]!.matchAll(/from ([0-9a-f:]{17})/gi)].map((m) => m[1]!.toLowerCase())),
        ];
        const want = all.get(a);
        if (from.length !== 1 || name.get(from[0]!) !== want)
          wrong.push(`${a}: ${from.map((m) => name.get(m) ?? m).join('+') || 'none'} (owner ${want})`);
      });
    }
    assert.deepEqual(wrong, []);
  });

  it("the owner's link down, its daemon alive: it loses quorum and falls silent, the others take over; link up: zero moves", async () => {
    const owner = await waitFor('agreement', () => bed.agreed([...NAMES], vip, API_PORT), 30_000, 100).catch(
      explain,
    );
    const lb = bed.lb.get(owner)!;
    const live = NAMES.filter((n) => n !== owner);
    const probe = bed.prober(vip, 80);
    try {
      await bed.steady(probe.ok);
      await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'down']);
      const t0 = Date.now();
      const next = await waitFor('new owner', () => bed.agreed(live, vip, API_PORT), 20_000, 50).catch(
        explain,
      );
      const first = await bed.firstOkAfter(probe.ok, t0, 10_000);
      assert.ok((bed.done.get(first) ?? first) - t0 < 3000, `${(bed.done.get(first) ?? first) - t0} ms`);
      // The cut-off node, asked from inside: no quorum, owns nothing (it would answer once its link is back).
      const alone = await waitFor(
        'the cut node owns nothing',
        async () => {
          const o = await owners(owner);
          return [...o.values()].every((x) => x === null) ? o : undefined;
        },
        10_000,
        100,
      );
      assert.ok(alone.size > 0);
      const before = await owners(next);
      await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'up']);
      await waitFor(
        'the node back, agreeing',
        async () => {
          const o = await owners(owner);
          return [...o].every(([a, x]) => x !== null && before.get(a) === x) ? true : undefined;
        },
        20_000,
        100,
      );
      await new Promise((r) => setTimeout(r, 1000));
      for (const n of NAMES)
        assert.deepEqual(await owners(n), before, `${n}: zero moves after the link came back`);
      assert.equal(await bed.agreed([...NAMES], vip, API_PORT), next);
      await bed.steady(probe.ok);
    } finally {
      probe.proc.kill('SIGKILL');
    }
  });

  it('owner SIGKILL → new connections within a few heartbeats; return: zero moves; a returned node owns it again: connections work', async () => {
    let owner = await waitFor('agreement', () => bed.agreed([...NAMES], vip, API_PORT), 60_000, 100).catch(
      explain,
    );
    const cap = await captureBridge(bed.t, bed.sw, join(dirs.get('lb1')!.path, 'fo.pcap'));
    const asking = bed.t.spawn(bed.client, 'arping', ['-q', '-c', '1200', '-W', '0.05', vip]);
    const probe = bed.prober(vip, 80);
    const phases: { from: number; owner: string }[] = [];
    const gaps: number[] = [];
    const returned = new Set<string>();
    let reownedByReturned = false;
    try {
      await bed.steady(probe.ok);
      // At most three kills: by the third, both candidates for the address have been killed and returned.
      for (let round = 0; round < 3 && !reownedByReturned; round++) {
        const victim = owner;
        const lb = bed.lb.get(victim)!;
        await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'down']);
        const t0 = Date.now();
        daemons.get(victim)!.proc.kill('SIGKILL');
        const live = NAMES.filter((n) => n !== victim);
        owner = await waitFor('new owner', () => bed.agreed(live, vip, API_PORT), 20_000, 50).catch(explain);
        phases.push({ from: t0, owner });
        const first = await bed.firstOkAfter(probe.ok, t0, 10_000);
        gaps.push((bed.done.get(first) ?? first) - t0);
        if (returned.has(owner)) reownedByReturned = true;
        await daemons.get(victim)!.exited;
        // The node returns: its daemon first (link still down: the kernel state a SIGKILL left cannot
        // answer meanwhile), then its link. It must take nothing back.
        await start(victim);
        await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'up']);
        await waitFor(
          'the node back in the cluster',
          async () =>
            (await bed.view(victim, API_PORT))?.items.find((e) => e.address === vip)?.owner
              ? true
              : undefined,
          30_000,
          100,
        );
        await new Promise((r) => setTimeout(r, 1000));
        const after = await waitFor(
          'agreement after the return',
          () => bed.agreed([...NAMES], vip, API_PORT),
          20_000,
          100,
        ).catch(explain);
        assert.equal(after, owner, `round ${round}: ${victim} returned and the address moved`);
        returned.add(victim);
        await bed.steady(probe.ok);
      }
    } finally {
      probe.proc.kill('SIGKILL');
      if (asking.exitCode === null) asking.kill('SIGKILL');
    }
    const frames: CapturedFrame[] = await cap.stop();
    assert.ok(
      reownedByReturned,
      `a returned node became the owner again (owners ${phases.map((p) => p.owner).join(' → ')})`,
    );
    for (const g of gaps) assert.ok(g < 3000, `new connections after ${gaps.join(', ')} ms`);
    const name = new Map([...macs].map(([n, m]) => [m, n]));
    const claims = frames.filter(
      (f) => (f.kind === 'arp-reply' || f.kind === 'arp-request') && f.sender === vip,
    );
    assert.ok(claims.length > 0, 'the capture saw the owners answer');
    for (const f of claims) {
      const ph = [...phases].reverse().find((p) => f.time * 1000 >= p.from);
      if (!ph) continue; // before the first kill
      assert.equal(
        name.get(f.src),
        ph.owner,
        `at ${f.time}: ${name.get(f.src) ?? f.src} claimed ${vip} while ${ph.owner} owned it`,
      );
    }
  });
});
