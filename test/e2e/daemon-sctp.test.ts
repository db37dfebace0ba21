// `ferrolb run` carrying a multihomed SCTP service: the daemon in an LB namespace (data plane and
// probes on) with a fullnat SCTP LoadBalancer with two secondary addresses; a client namespace with two
// links and usrsctp's client, an endpoint namespace with usrsctp's echo_server. Echo works, `ferroctl
// get sctp` shows the association with the client's addresses on the VIPs, the endpoint never sees a
// client address, the table empties after the client leaves, and SIGTERM leaves nothing behind.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import {
  assertNeverSeen,
  buildSctpBed,
  capturedPackets,
  collect,
  sctpSkipReason,
  startCapture,
  stopCaptures,
  USRSCTP,
  type SctpPlan,
} from '../support/sctp.js';
import type { AssociationView } from '../../src/sctp/index.js';

const skip = sctpSkipReason(['tcpdump']);

const CLIENT = ['10.203.1.2', '10.203.3.2'] as const;
const LB_SIDE = ['10.203.1.1', '10.203.3.1', '10.203.2.1'] as const;
const ENDPOINT = '10.203.2.2';
const VIPS = ['10.203.9.1', '10.203.9.2', '10.203.9.3'] as const;
const PLAN: SctpPlan = {
  family: 4,
  client: CLIENT,
  lbSide: LB_SIDE,
  endpoint: ENDPOINT,
  vips: VIPS,
  vipNet: '10.203.9.0/24',
  plen: 24,
};

const CONFIG = `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: sctp-vips}
spec: {addresses: ["10.203.9.0/24"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: echo}
spec:
  addresses: ["${VIPS[0]}"]
  secondaryAddresses: ["${VIPS[1]}", "${VIPS[2]}"]
  ports: [{port: 7, protocol: SCTP}]
  mode: fullnat
  endpoints: [{address: ${ENDPOINT}}]
`;

interface SctpStatus {
  running: boolean;
  error?: string;
  associations: AssociationView[];
}

let topo: Topology;
let dir: { path: string; remove: () => void };
let daemon: Daemon | undefined;
let cNs = '';
let lbNs = '';
let bNs = '';
const dumps: ChildProcess[] = [];

async function ctl(args: string[]): Promise<string> {
  return nsExec(lbNs, process.execPath, [FERROCTL, '--server', (daemon as Daemon).url, ...args], {
    timeoutMs: 20_000,
  });
}
const sctpStatus = async () => JSON.parse(await ctl(['get', 'sctp', '-o', 'json'])) as SctpStatus;

before(async () => {
  if (skip) return;
  topo = new Topology();
  dir = tempDir('ferrolb-daemon-sctp-');
  ({ c: cNs, lb: lbNs, b: bNs } = await buildSctpBed(topo, PLAN));
  writeFileSync(join(dir.path, 'cfg.yaml'), CONFIG);
  daemon = await startDaemon(
    ['--config', join(dir.path, 'cfg.yaml'), '--state-dir', dir.path, '--dataplane', 'on', '--probes', 'on'],
    {},
    20_000,
    ['ip', 'netns', 'exec', lbNs],
  );
  dumps.push(startCapture(topo, bNs, join(dir.path, 'endpoint.pcap')));
  topo.spawn(bNs, `${USRSCTP}/echo_server`, []);
  await new Promise((r) => setTimeout(r, 1000)); // tcpdump and echo_server have no readiness signal
});

after(async () => {
  if (daemon) await stopDaemon(daemon, 'SIGKILL').catch(() => undefined);
  await topo?.cleanup();
  dir?.remove();
});

test(
  'ferrolb run carries a multihomed SCTP service through the engine',
  { skip, timeout: 120_000 },
  async () => {
    const d = daemon as Daemon;
    const st0 = await sctpStatus();
    assert.equal(st0.running, true, `sctp engine not running: ${JSON.stringify(st0)}\n${d.logs.join('\n')}`);
    // Not compiled into the nft DNAT table; its VIPs are local (on the SCTP shell's interface).
    const table = await nsExec(lbNs, 'nft', ['list', 'table', 'inet', 'ferrolb']).catch(() => '');
    assert.ok(!table.includes(VIPS[0]), 'the multihomed service reached the nft DNAT table');
    const addrs = await nsExec(lbNs, 'ip', ['-o', 'addr', 'show']);
    for (const v of VIPS) assert.ok(addrs.includes(v), `${v} is not local`);
    const mangle = await nsExec(lbNs, 'iptables', ['-t', 'mangle', '-S']);
    for (const v of VIPS) assert.match(mangle, new RegExp(`-d ${v}/32 .*NFQUEUE`), mangle);

    const client = topo.spawn(cNs, `${USRSCTP}/client`, [VIPS[0], '7']);
    const out = collect(client);
    const lines = ['one', 'two', 'three'].map((w) => `hello-${w}`);
    for (const l of lines) client.stdin?.write(`${l}\n`);
    await waitFor('echo', () => (lines.every((l) => out.text().includes(l)) ? true : undefined), 30_000);

    const st = await sctpStatus();
    assert.equal(st.associations.length, 1, JSON.stringify(st));
    const a = st.associations[0] as AssociationView;
    assert.equal(a.service, 'echo');
    assert.equal(a.state, 'established');
    assert.deepEqual([...a.clientAddresses].sort(), [...CLIENT].sort());
    assert.deepEqual([...a.serviceAddresses].sort(), [...VIPS].sort());
    assert.deepEqual(a.endpoint, [ENDPOINT]);
    // Client side: every client address × every VIP, each mapped to the endpoint.
    const clientPaths = a.paths.filter((p) => p.side === 'client');
    assert.equal(clientPaths.length, CLIENT.length * VIPS.length);
    for (const p of clientPaths) {
      assert.ok((VIPS as readonly string[]).includes(p.vip), p.vip);
      // "VIP → endpoint": the endpoint sees the association on a VIP, never the client's address.
      assert.ok(p.mapsTo.endsWith(`→ ${ENDPOINT}`), p.mapsTo);
      assert.ok((VIPS as readonly string[]).includes(p.mapsTo.split(' ')[0] ?? ''), p.mapsTo);
    }
    const table2 = await ctl(['get', 'sctp']);
    assert.match(table2, /echo\s+established/, table2);
    const wide = await ctl(['get', 'sctp', '-o', 'wide']);
    assert.ok(wide.includes(`${CLIENT[1]} → ${VIPS[1]}`), wide);

    client.stdin?.end();
    await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 30_000);
    await waitFor(
      'association table empty',
      async () => ((await sctpStatus()).associations.length === 0 ? true : undefined),
      15_000,
      250,
    );

    await stopCaptures(dumps);
    const pkts = capturedPackets(join(dir.path, 'endpoint.pcap'));
    assert.ok(pkts.length > 5, `endpoint: only ${pkts.length} packets captured`);
    assertNeverSeen(pkts, CLIENT, 'endpoint');

    // A clean stop removes the queue rules, the fast path and the VIPs.
    const r = await stopDaemon(d, 'SIGTERM');
    daemon = undefined;
    assert.equal(r.code, 0, d.logs.join('\n'));
    for (const [cmd, t] of [
      ['iptables', 'mangle'],
      ['iptables', 'raw'],
    ] as const) {
      const rules = await nsExec(lbNs, cmd, ['-t', t, '-S']);
      assert.ok(!/FERROLB-SCTP|NFQUEUE|NOTRACK/.test(rules), `${cmd} -t ${t} left:\n${rules}`);
    }
    const ruleset = await nsExec(lbNs, 'nft', ['list', 'ruleset']);
    assert.ok(!ruleset.includes('ferrolb_sctp'), ruleset);
    const left = await nsExec(lbNs, 'ip', ['-o', 'addr', 'show']);
    for (const v of VIPS) assert.ok(!left.includes(v), `${v} left on the node`);
  },
);
