// `npm run demo` (as root): a client, an LB and three backends in network namespaces; ferrolb runs
// in the LB namespace on examples/demo.yaml and carries real HTTP, UDP and SCTP traffic; a backend
// dies and the probes take it out; the daemon is SIGKILLed and traffic does not notice. Everything
// it creates is removed at the end, pass or fail.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nsExec, Topology, waitFor } from '../test/support/netns.js';
import { FERROCTL, REPO, startDaemon, stopDaemon, tempDir, type Daemon } from '../test/support/daemon.js';
import {
  buildLbTopology,
  httpBatch,
  startBackend,
  tally,
  udpBatch,
  type LbTopo,
} from '../test/e2e/support-dataplane/topo.js';
import type { LoadBalancerView } from '../src/state/views.js';

const step = (title: string) => console.log(`\n\x1b[1m== ${title}\x1b[0m`);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo builds network namespaces: run it as root');
  const topo = new Topology();
  const dir = tempDir('ferrolb-demo-');
  let d: Daemon | undefined;
  try {
    step('topology: client 10.201.1.2 ── LB ── backends b1 10.201.2.11, b2 .12, b3 .13 (namespaces)');
    const t: LbTopo = await buildLbTopology(topo, { backends: 3, servers: false });
    const servers = new Map<string, ReturnType<typeof topo.spawn>>();
    for (const b of t.backends) servers.set(b.name, await startBackend(topo, b));
    topo.spawn(t.backends[0]!.ns, '/usr/lib/usrsctp/echo_server', []);

    const config = join(REPO, 'examples/demo.yaml');
    const start = () =>
      startDaemon(
        ['--config', config, '--state-dir', dir.path, '--dataplane', 'on', '--probes', 'on'],
        {},
        20_000,
        ['ip', 'netns', 'exec', t.lb],
      );
    step('ip netns exec LB ferrolb run --config examples/demo.yaml');
    d = await start();
    const ctl = (args: string[], show = true) => {
      const r = spawnSync(
        'ip',
        ['netns', 'exec', t.lb, process.execPath, FERROCTL, '--server', (d as Daemon).url, ...args],
        { encoding: 'utf8' },
      );
      if (show) process.stdout.write(`$ ferroctl ${args.join(' ')}\n${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const web = () => JSON.parse(ctl(['get', 'lb', 'web', '-o', 'json'], false)) as LoadBalancerView;
    await waitFor(
      'probes',
      () => (web().endpoints.every((e) => e.state === 'active') ? true : undefined),
      15_000,
      100,
    );

    step('real traffic from the client namespace');
    const h = await httpBatch(t, '10.200.0.10', 80, 200);
    console.log(
      `HTTP  200 requests to 10.200.0.10:80 → ${h.replies.length} answered, ${h.errors} failed, per backend ${JSON.stringify(Object.fromEntries(tally(h.replies)))} (weights 1:1:2)`,
    );
    const u = await udpBatch(t, '10.200.0.11', 53, 50);
    console.log(
      `UDP   50 datagrams to 10.200.0.11:53 → ${u.replies.length} echoed, per backend ${JSON.stringify(Object.fromEntries(tally(u.replies)))}`,
    );
    const s = await waitFor(
      'sctp echo',
      async () => {
        const o = await nsExec(
          t.client,
          'sh',
          ['-c', 'echo hello-over-sctp | timeout 5 /usr/lib/usrsctp/client 10.200.0.12 7'],
          { timeoutMs: 8000 },
        ).catch((e: { stdout?: string }) => e.stdout ?? '');
        return o.includes('hello-over-sctp') ? o : undefined;
      },
      15_000,
      200,
    );
    console.log(`SCTP  usrsctp client → 10.200.0.12:7 → echoed: ${s.includes('hello-over-sctp')}`);
    ctl(['get', 'lb', '-o', 'wide']);

    step('kill backend b3: the http probe marks it inactive, new flows avoid it');
    servers.get('b3')?.kill('SIGKILL');
    const t0 = Date.now();
    await waitFor(
      'b3 inactive',
      () =>
        web().endpoints.find((e) => e.address === '10.201.2.13')?.state === 'inactive' ? true : undefined,
      15_000,
      50,
    );
    console.log(`b3 inactive after ${Date.now() - t0} ms (interval 500 ms × 2 + timeout 300 ms)`);
    const h2 = await httpBatch(t, '10.200.0.10', 80, 100);
    console.log(
      `HTTP  100 requests → ${h2.replies.length} answered, ${h2.errors} failed, per backend ${JSON.stringify(Object.fromEntries(tally(h2.replies)))}`,
    );
    ctl(['get', 'lb', 'web', '-o', 'wide']);

    step('SIGKILL the daemon: the kernel keeps forwarding; a restart adopts its table');
    await stopDaemon(d, 'SIGKILL');
    d = undefined;
    const h3 = await httpBatch(t, '10.200.0.10', 80, 50);
    console.log(`while ferrolb is down: 50 requests → ${h3.replies.length} answered, ${h3.errors} failed`);
    d = await start();
    console.log(
      d.logs
        .filter((l) => l.includes('adopting'))
        .map((l) => JSON.parse(l).msg as string)
        .join('\n'),
    );
    ctl(['get', 'lb']);
    ctl(['get', 'pools']);
  } finally {
    step('cleanup: daemon stopped (rules removed), namespaces deleted');
    if (d) await stopDaemon(d);
    await topo.cleanup();
    dir.remove();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
