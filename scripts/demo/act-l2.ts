// Demo act: Layer 2 failover. Three `ferrolb run` nodes on one bridge form a Cluster (heartbeat
// 100 ms); one of them answers ARP for the service address and carries HTTP (fullnat) to a backend.
// The owner node dies (its link down and its daemon SIGKILLed: a dead process alone leaves a kernel
// that still answers and forwards), the client measures the takeover, and the node's return moves
// nothing. The namespaces come from the L2 bench's bed (bench/l2.ts).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { nsExec, waitFor } from '../../test/support/netns.js';
import { startClusterNode, stopDaemon, tempDir, type Daemon } from '../../test/support/daemon.js';
import { Bed } from '../../bench/l2.js';
import { ctlIn, step } from './show.js';

const NAMES = ['lb1', 'lb2', 'lb3'] as const;
const API_PORT = 11191;

/** HTTP GET every 20 ms from the client, each on its own connection (2 s timeout): "ok START END BODY". */
const PROBER =
  `const http=require('http');setInterval(()=>{const t=Date.now();` +
  `const r=http.get({host:process.argv[1],port:80,timeout:2000,agent:false},(res)=>{let b='';` +
  `res.on('data',(d)=>b+=d);res.on('end',()=>console.log('ok '+t+' '+Date.now()+' '+b.trim()))});` +
  `r.on('timeout',()=>r.destroy());r.on('error',()=>{})},20);`;

export async function l2Act(): Promise<void> {
  const bed = new Bed();
  const key = randomBytes(32).toString('base64');
  const dirs = new Map(NAMES.map((n) => [n, tempDir(`ferrolb-demo-l2-${n}-`)]));
  const daemons = new Map<string, Daemon>();
  try {
    await bed.build();
    const vip = `${bed.net}.100`;
    const node = (n: string) => bed.lb.get(n)!;
    step(
      `Layer 2: client ${bed.net}.2, backend ${bed.net}.50 and nodes lb1..lb3 ${bed.net}.11-13 on one bridge; service ${vip}`,
    );
    bed.t.spawn(bed.backend, process.execPath, [
      '-e',
      `require('http').createServer((q,s)=>s.end('hello from the backend\\n')).listen(8080)`,
    ]);
    const start = async (n: string) => {
      const dir = dirs.get(n as (typeof NAMES)[number])!.path;
      writeFileSync(join(dir, 'cluster.key'), key + '\n');
      writeFileSync(join(dir, 'cfg.yaml'), bed.clusterConfig('demo', join(dir, 'cluster.key'), 100, vip));
      daemons.set(n, await startClusterNode(node(n).ns, dir, n, `${node(n).addr}:${API_PORT}`));
    };
    step('ferrolb run --node-name lb1|lb2|lb3 (Cluster: shared key file, heartbeat 100 ms; L2Advertisement)');
    await Promise.all(NAMES.map(start));
    const view = (n: string) => bed.view(n, API_PORT);
    const agreed = (live: readonly string[]) => bed.agreed(live, vip, API_PORT);
    const owner = await waitFor('owner agreed', () => agreed(NAMES), 60_000, 100);
    const ctl = (n: string, args: string[]) => ctlIn(node(n).ns, daemons.get(n)!, args);
    ctl(owner, ['get', 'l2']);

    const macs = new Map<string, string>();
    for (const n of NAMES) {
      const j = JSON.parse(await nsExec(node(n).ns, 'ip', ['-j', 'link', 'show', 'dev', node(n).dev]));
      macs.set((j as { address: string }[])[0]!.address, n);
    }
    const clientDev = (
      JSON.parse(await nsExec(bed.client, 'ip', ['-j', 'link', 'show'])) as { ifname: string }[]
    )
      .map((l) => l.ifname)
      .find((n) => n !== 'lo')!;
    const arping = async () => {
      const out = await nsExec(
        bed.client,
        'arping',
        ['-c', '2', '-W', '0.2', '-w', '3', '-i', clientDev, vip],
        {
          timeoutMs: 10_000,
        },
      ).catch((e: { stdout?: string }) => e.stdout ?? '');
      const from = [...new Set([...out.matchAll(/from ([0-9a-f:]{17})/gi)].map((m) => m[1]!.toLowerCase()))];
      return from.map((m) => `${m} (${macs.get(m) ?? '?'})`).join(', ') || 'nobody';
    };
    console.log(`arping ${vip} from the client → answered by ${await arping()}`);
    const get = await nsExec(bed.client, 'curl', ['-s', '--max-time', '3', `http://${vip}/`]);
    console.log(`curl http://${vip}/ → ${get.trim()}`);

    const ok: { start: number; end: number }[] = [];
    const probe: ChildProcess = bed.t.spawn(bed.client, process.execPath, ['-e', PROBER, vip]);
    createInterface({ input: probe.stdout! }).on('line', (l) => {
      const m = /^ok (\d+) (\d+)/.exec(l);
      if (m) ok.push({ start: Number(m[1]), end: Number(m[2]) });
    });
    await waitFor('steady requests', () => (ok.length >= 10 ? true : undefined), 30_000, 50);

    step(`the owner ${owner} dies: its link goes down and its ferrolb is SIGKILLed`);
    const victim = node(owner);
    await nsExec(victim.ns, 'ip', ['link', 'set', victim.dev, 'down']);
    const t0 = Date.now();
    daemons.get(owner)!.proc.kill('SIGKILL');
    // The first request STARTED after the kill that was answered: one opened before proves nothing.
    const first = await waitFor(
      'a request answered after the kill',
      () => ok.find((r) => r.start > t0),
      15_000,
      5,
    );
    const before = ok.filter((r) => r.start < t0).length;
    console.log(
      `takeover: first request after the kill answered in ${first.end - t0} ms (${before} answered before)`,
    );
    await daemons.get(owner)!.exited;
    const live = NAMES.filter((n) => n !== owner);
    const next = await waitFor('new owner', () => agreed(live), 20_000, 50);
    ctl(next, ['get', 'l2']);
    console.log(`new owner: ${next}; arping ${vip} → answered by ${await arping()}`);

    step(`${owner} returns: it takes nothing back`);
    await nsExec(victim.ns, 'ip', ['link', 'set', victim.dev, 'up']);
    await start(owner);
    await waitFor(
      'the node to return',
      async () => ((await view(owner))?.items.find((e) => e.address === vip)?.owner ? true : undefined),
      30_000,
      100,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const after = await waitFor('agreement after the return', () => agreed(NAMES), 20_000, 100);
    ctl(owner, ['get', 'l2']);
    const since = ok.filter((r) => r.start > first.start).length;
    console.log(
      `after ${owner}'s return the owner is ${after}: ${after === next ? 0 : 1} moves; ${since} more requests answered since`,
    );
    probe.kill('SIGKILL');
  } finally {
    step('cleanup: daemons stopped, namespaces deleted');
    await Promise.all([...daemons.values()].map((d) => stopDaemon(d, 'SIGKILL')));
    await bed.t.cleanup();
    console.log(`namespaces fl${bed.t.id}* removed`);
    for (const d of dirs.values()) d.remove();
  }
}
