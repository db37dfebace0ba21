// More ways the kernel drifts behind ferrolb's back than daemon-drift.test.ts lists: our table's
// rules flushed (maps kept), a foreign rule inserted ahead of our dispatch, every slot map emptied,
// and drift that happened while the daemon was dead (SIGKILL, break, restart on the same state dir).
// Each time traffic through the VIP must come back without any user change, and an established
// connection to another service must never be cut.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { buildLbTopology, Hold, httpBatch, VIP4, type LbTopo } from './support-dataplane/topo.js';
import { names } from '../../src/dataplane/compiler/names.js';

const skip = e2eSkipReason();
const OTHER = '10.200.0.12';
const REPAIR_BOUND_MS = 6000;

const lb = (name: string, vip: string, ports: string) => `
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: ${name}}
spec:
  addresses: ["${vip}"]
  ports: [${ports}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]
  endpoints: [{address: 10.201.2.11}, {address: 10.201.2.12}]
`;
const config = `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.30"]}
${lb('web', VIP4, '{port: 80, protocol: TCP, targetPort: 8080}')}
${lb('other', OTHER, '{port: 9000, protocol: TCP}')}
`;

let t: LbTopo;
let topo: Topology;
let dir: { path: string; remove: () => void };
let daemon: Daemon | undefined;
let hold: Hold;

const inLb = (cmd: string, args: string[]) => nsExec(t.lb, cmd, args, { timeoutMs: 20_000 });
const start = () =>
  startDaemon(
    ['--config', join(dir.path, 'cfg.yaml'), '--state-dir', dir.path, '--dataplane', 'on'],
    {},
    20_000,
    ['ip', 'netns', 'exec', t.lb],
  );

async function webWorks(): Promise<boolean> {
  const r = await httpBatch(t, VIP4, 80, 3);
  return r.errors === 0 && r.replies.length === 3;
}

async function breakAndRecover(what: string, act: () => Promise<unknown>): Promise<void> {
  assert.ok(await webWorks(), `${what}: works before`);
  await act();
  await waitFor(
    `${what} repaired`,
    async () => ((await webWorks()) ? true : undefined),
    REPAIR_BOUND_MS,
    100,
  ).catch((e: unknown) => {
    // The daemon's own account of what it saw, for whoever reads the failure.
    process.stderr.write(`${(daemon as Daemon).logs.slice(-40).join('\n')}\n`);
    throw e;
  });
  assert.match(await hold.ping(), /^b\d /, `${what}: established flow on "other" still works`);
}

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir();
  t = await buildLbTopology(topo, { backends: 2, backendDefaultRoute: false });
  writeFileSync(join(dir.path, 'cfg.yaml'), config);
  daemon = await start();
  await waitFor('web serves', async () => ((await webWorks()) ? true : undefined), 10_000, 100);
  hold = await Hold.open(t, OTHER, 9000);
});

after(async () => {
  hold?.proc.kill();
  if (daemon) await stopDaemon(daemon, 'SIGTERM');
  await topo?.cleanup();
  dir?.remove();
});

test('every rule of our table flushed (chains and maps kept): rules back', { skip }, async () => {
  await breakAndRecover('flush table', () => inLb('nft', ['flush', 'table', 'inet', 'ferrolb']));
});

test(
  'a foreign rule inserted ahead of the dispatch (VIP traffic bypasses DNAT): removed',
  { skip },
  async () => {
    await breakAndRecover('foreign rule', () =>
      inLb('nft', [
        'insert',
        'rule',
        'inet',
        'ferrolb',
        'prerouting',
        'ip',
        'daddr',
        VIP4,
        'tcp',
        'dport',
        '80',
        'accept',
      ]),
    );
    const chain = await inLb('nft', ['list', 'chain', 'inet', 'ferrolb', 'prerouting']);
    assert.doesNotMatch(chain, new RegExp(`ip daddr ${VIP4.replace(/\./g, '\\.')} tcp dport 80 accept`));
  },
);

test('every IPv4 TCP slot map emptied: endpoints back', { skip }, async () => {
  // Only the shards some service uses exist.
  const listing = await inLb('nft', ['list', 'maps', 'inet']);
  const shards = [...listing.matchAll(/map (slots4tcp_\d+) /g)].map((m) => m[1] as string);
  assert.ok(shards.length > 0, listing);
  const script = shards.map((m) => `flush map inet ferrolb ${m}`).join('\n') + '\n';
  await breakAndRecover('slot maps flushed', async () => {
    const r = await t.run('nft', ['-f', '-'], script);
    assert.equal(r.code, 0, r.stderr);
  });
});

test(
  'drift while the daemon was dead (SIGKILL, element deleted, restart): repaired on adoption',
  { skip },
  async () => {
    await stopDaemon(daemon as Daemon, 'SIGKILL');
    daemon = undefined;
    // The kernel keeps forwarding without the daemon.
    assert.ok(await webWorks(), 'forwarding while the daemon is dead');
    await inLb('nft', ['delete', 'element', 'inet', 'ferrolb', names.dispatch(4), `{ ${VIP4} . tcp . 80 }`]);
    assert.equal(await webWorks(), false, 'the deleted element really broke the service');
    daemon = await start();
    await waitFor(
      'web repaired after restart',
      async () => ((await webWorks()) ? true : undefined),
      15_000,
      100,
    );
    assert.match(await hold.ping(), /^b\d /, 'established flow on "other" survived kill, drift and restart');
  },
);
