// Demo act: a client, an LB and three backends in network namespaces; ferrolb runs in the LB
// namespace on examples/demo.yaml and carries real HTTP, UDP and SCTP traffic, announces its service
// addresses to a real BIRD in the client's namespace (and withdraws a deleted one), shows its live
// status page (a screenshot is saved), takes a dead backend out, and survives its own SIGKILL.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nsExec, Topology, waitFor } from '../../test/support/netns.js';
import { REPO, startDaemon, stopDaemon, tempDir, type Daemon } from '../../test/support/daemon.js';
import { Bird } from '../../test/fixtures/bgp/e2e-harness.js';
import { browserInNetns } from '../../test/support/browser.js';
import {
  buildLbTopology,
  httpBatch,
  startBackend,
  tally,
  udpBatch,
  type LbTopo,
} from '../../test/e2e/support-dataplane/topo.js';
import type { LoadBalancerView } from '../../src/state/views.js';
import { ctlIn, step } from './show.js';

/** Where the status page's picture goes ($FERROLB_DEMO_SCREENSHOT, else ./ferrolb-status.png). */
export const SCREENSHOT = resolve(process.env.FERROLB_DEMO_SCREENSHOT ?? 'ferrolb-status.png');
const API = '127.0.0.1:11111'; // the LB namespace's own loopback

export async function dataplaneAct(): Promise<void> {
  const topo = new Topology();
  const dir = tempDir('ferrolb-demo-');
  let d: Daemon | undefined;
  try {
    step(
      'topology: client 10.201.1.2 (and a BIRD router) ── LB 10.201.1.1 ── backends b1 10.201.2.11, b2 .12, b3 .13',
    );
    const t: LbTopo = await buildLbTopology(topo, { backends: 3, servers: false });
    const servers = new Map<string, ReturnType<typeof topo.spawn>>();
    for (const b of t.backends) servers.set(b.name, await startBackend(topo, b));
    topo.spawn(t.backends[0]!.ns, '/usr/lib/usrsctp/echo_server', []);
    const bird = Bird.start(topo, t.client, dir.path, {
      routerId: '10.201.1.2',
      asn: 64513,
      sessions: [
        { name: 'ferrolb', local: '10.201.1.2', neighbor: '10.201.1.1', peerAsn: 64512, holdTime: 9 },
      ],
    });
    await bird.ready();

    const config = join(REPO, 'examples/demo.yaml');
    const start = () =>
      startDaemon(
        [
          ...['--config', config, '--state-dir', dir.path, '--api', API, '--router-id', '10.201.1.1'],
          ...['--dataplane', 'on', '--probes', 'on'],
        ],
        {},
        20_000,
        ['ip', 'netns', 'exec', t.lb],
      );
    step('ip netns exec LB ferrolb run --config examples/demo.yaml');
    d = await start();
    const ctl = (args: string[], show = true) => ctlIn(t.lb, d as Daemon, args, show);
    const web = () => JSON.parse(ctl(['describe', 'lb', 'web', '-o', 'json'], false)) as LoadBalancerView;
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
          {
            timeoutMs: 8000,
          },
        ).catch((e: { stdout?: string }) => e.stdout ?? '');
        return o.includes('hello-over-sctp') ? o : undefined;
      },
      15_000,
      200,
    );
    console.log(`SCTP  usrsctp client → 10.200.0.12:7 → echoed: ${s.includes('hello-over-sctp')}`);
    ctl(['get', 'lb', '-o', 'wide']);

    step(
      'BGP: BIRD (AS 64513, in the client namespace) learns every service address from ferrolb (AS 64512)',
    );
    const vips = ['10.200.0.10/32', '10.200.0.11/32', '10.200.0.12/32'];
    await waitFor(
      'routes at BIRD',
      async () => {
        const r = await bird.routes();
        return vips.every((v) => r.has(v)) ? true : undefined;
      },
      20_000,
    );
    console.log(await nsExec(t.client, 'birdc', ['-s', bird.sock, 'show', 'route']));
    ctl(['get', 'bgp']);
    step('a service added through the API is announced at once; deleted, it is withdrawn');
    const promo = join(dir.path, 'promo.yaml');
    writeFileSync(
      promo,
      'apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: promo}\nspec: {ports: [{port: 8080}], mode: fullnat, endpoints: [{address: 10.201.2.11}]}\n',
    );
    ctl(['apply', '-f', promo]);
    const addr = (JSON.parse(ctl(['describe', 'lb', 'promo', '-o', 'json'], false)) as LoadBalancerView)
      .addresses[0];
    await waitFor(
      'promo at BIRD',
      async () => ((await bird.routes()).has(`${addr}/32`) ? true : undefined),
      20_000,
    );
    console.log(
      `BIRD has ${addr}/32 (allocated from the pool) ${JSON.stringify([...(await bird.routes()).keys()])}`,
    );
    ctl(['delete', 'lb', 'promo']);
    await waitFor(
      'withdrawn at BIRD',
      async () => ((await bird.routes()).has(`${addr}/32`) ? undefined : true),
      20_000,
    );
    console.log(`after the delete BIRD has ${JSON.stringify([...(await bird.routes()).keys()])}`);

    step(`the live status page at http://${API}/ (headless Chromium in the LB namespace)`);
    const browser = await browserInNetns(t.lb, dir.path);
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
      await page.goto(`http://${API}/`);
      await page.locator('[data-service="web"]').waitFor({ timeout: 15_000 });
      await page.locator('#bgp-section').waitFor({ state: 'visible', timeout: 15_000 });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`screenshot: ${SCREENSHOT}`);
    } finally {
      await browser.close();
    }

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
    console.log(`namespaces fl${topo.id}* removed`);
    dir.remove();
  }
}
