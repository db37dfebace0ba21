// The SCTP multihoming test bed shared by the SCTP e2e tests and bench/sctp.ts: a client namespace
// with two links to the LB namespace (usrsctp's client lists both addresses in its INIT), an endpoint
// namespace behind the LB, routes that put the primary VIP and one secondary on link 0 and the other
// secondary on link 1; plus usrsctp tools, captures and the address-leak check on them.
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { e2eSkipReason, nsExec, waitFor, type Topology } from './netns.js';
import { readPcapIp } from '../unit/sctp/pcap.js';
import { containsAddress } from '../unit/sctp/build.js';
import { formatIp, parseIp } from '../../src/net/ip.js';
import { decodeIp, type IpPacket } from '../../src/sctp/codec/index.js';

export const USRSCTP = '/usr/lib/usrsctp';
export const ADDON = fileURLToPath(
  new URL('../../../native/build/Release/ferrolb_nfqueue.node', import.meta.url),
);
/** The stand-alone engine behind NFQUEUE (src/sctp/shell/main.ts). */
export const ENGINE_MAIN = fileURLToPath(new URL('../../src/sctp/shell/main.js', import.meta.url));

const onPath = (tool: string) =>
  (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, tool)));

/**
 * Why an SCTP e2e test cannot run here (not root, usrsctp's tools, the NFQUEUE addon or one of `tools`
 * missing), or undefined. Under CI a missing prerequisite throws: CI must never skip these silently.
 */
export function sctpSkipReason(tools: readonly string[] = []): string | undefined {
  const root = e2eSkipReason();
  if (root) return root;
  const missing = [
    ...[`${USRSCTP}/echo_server`, `${USRSCTP}/client`, ADDON].filter((p) => !existsSync(p)),
    ...tools.filter((t) => !onPath(t)),
  ];
  if (missing.length === 0) return undefined;
  if (process.env.CI) throw new Error(`sctp e2e prerequisites missing in CI: ${missing.join(', ')}`);
  return `missing ${missing.join(', ')} (./setup.sh installs the tools; npm run build builds the addon)`;
}

/** Addresses of one bed. Link 0 carries the primary VIP and VIP 3, link 1 VIP 2. */
export interface SctpPlan {
  readonly family: 4 | 6;
  /** Client side of link 0 / link 1. */
  readonly client: readonly [string, string];
  /** LB side of link 0 / link 1 / the endpoint link. */
  readonly lbSide: readonly [string, string, string];
  readonly endpoint: string;
  /** The primary VIP, then two secondaries. */
  readonly vips: readonly [string, string, string];
  /** Prefix length of every link. */
  readonly plen: number;
  /** Covers the VIPs (what an NFQUEUE rule matches). */
  readonly vipNet: string;
}

/** The standard bed's addresses (private ranges, only ever inside the test's namespaces). */
export const SCTP_V4: SctpPlan = {
  family: 4,
  client: ['10.201.1.2', '10.201.3.2'],
  lbSide: ['10.201.1.1', '10.201.3.1', '10.201.2.1'],
  endpoint: '10.201.2.2',
  vips: ['10.201.9.1', '10.201.9.2', '10.201.9.3'],
  vipNet: '10.201.9.0/24',
  plen: 24,
};
export const SCTP_V6: SctpPlan = {
  family: 6,
  client: ['fd01:1::2', 'fd01:3::2'],
  lbSide: ['fd01:1::1', 'fd01:3::1', 'fd01:2::1'],
  endpoint: 'fd01:2::2',
  vips: ['fd01:9::1', 'fd01:9::2', 'fd01:9::3'],
  vipNet: 'fd01:9::/64',
  plen: 64,
};

export interface SctpBed {
  readonly c: string;
  readonly lb: string;
  readonly b: string;
  /** LB-side devices of link 0 / link 1 / the endpoint link (down at the LB = a cut path). */
  readonly lbDevs: readonly [string, string, string];
}

const hostLen = (plan: SctpPlan) => (plan.family === 4 ? '/32' : '/128');

/** Namespaces c (client), l (LB), b (endpoint), their links and routes. */
export async function buildSctpBed(topo: Topology, plan: SctpPlan): Promise<SctpBed> {
  const c = await topo.addNs('c');
  const lb = await topo.addNs('l');
  const b = await topo.addNs('b');
  const pl = `/${plan.plen}`;
  const l0 = await topo.link(c, [plan.client[0] + pl], lb, [plan.lbSide[0] + pl]);
  const l1 = await topo.link(c, [plan.client[1] + pl], lb, [plan.lbSide[1] + pl]);
  const l2 = await topo.link(b, [plan.endpoint + pl], lb, [plan.lbSide[2] + pl]);
  if (plan.family === 6)
    // A link taken down and up again must come back as a cable would: IPv6 otherwise drops the
    // link's static addresses and routes on down (keep_addr_on_down=0), so the "restored" path
    // stays dead and the client's retransmissions back off for tens of seconds.
    for (const ns of [c, lb]) await nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.keep_addr_on_down=1']);
  const host = hostLen(plan);
  await nsExec(c, 'ip', ['route', 'add', plan.vips[0] + host, 'via', plan.lbSide[0]]);
  await nsExec(c, 'ip', ['route', 'add', plan.vips[1] + host, 'via', plan.lbSide[1]]);
  await nsExec(c, 'ip', ['route', 'add', plan.vips[2] + host, 'via', plan.lbSide[0]]);
  await nsExec(b, 'ip', ['route', 'add', 'default', 'via', plan.lbSide[2]]);
  return { c, lb, b, lbDevs: [l0.bDev, l1.bDev, l2.bDev] };
}

/**
 * By hand, what the daemon's SctpShell does by itself, for the stand-alone engine: VIPs local (on lo),
 * forwarding, SCTP untracked, and SCTP to the plan's `vipNet` queued to `queue`.
 */
export async function prepareEngineLb(ns: string, plan: SctpPlan, queue: number) {
  const { vipNet } = plan;
  const iptables = plan.family === 4 ? 'iptables' : 'ip6tables';
  for (const v of plan.vips)
    await nsExec(ns, 'ip', [
      'addr',
      'add',
      v + hostLen(plan),
      'dev',
      'lo',
      ...(plan.family === 6 ? ['nodad'] : []),
    ]);
  if (plan.family === 6) await nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  else {
    await nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // Translated packets leave with a VIP (a local address) as source: IPv4 drops those as martians
    // unless accept_local is on and rp_filter off. IPv6 has no such check.
    const devs = (await nsExec(ns, 'ip', ['-o', 'link', 'show']))
      .split('\n')
      .map((l) => l.split(': ')[1]?.split('@')[0])
      .filter((d): d is string => !!d);
    for (const d of ['all', 'default', ...devs])
      await nsExec(ns, 'sysctl', [
        '-qw',
        `net.ipv4.conf.${d}.accept_local=1`,
        `net.ipv4.conf.${d}.rp_filter=0`,
      ]);
  }
  await nsExec(ns, iptables, ['-t', 'raw', '-A', 'PREROUTING', '-p', 'sctp', '-j', 'NOTRACK']);
  await nsExec(ns, iptables, ['-t', 'raw', '-A', 'OUTPUT', '-p', 'sctp', '-j', 'NOTRACK']);
  // Only packets still addressed to a VIP go to the engine; fast-path ones were rewritten earlier.
  await nsExec(ns, iptables, [
    ...['-t', 'mangle', '-A', 'PREROUTING', '-p', 'sctp', '-d', vipNet],
    ...['-j', 'NFQUEUE', '--queue-num', String(queue)],
  ]);
}

/** Starts the stand-alone engine on `config` (its JSON format) and waits until it reads its queue. */
export async function startEngine(
  topo: Topology,
  ns: string,
  dir: string,
  config: unknown,
): Promise<{ proc: ChildProcess; out: Collected }> {
  const file = join(dir, 'lb.json');
  writeFileSync(file, JSON.stringify(config));
  const proc = topo.spawn(ns, process.execPath, [ENGINE_MAIN, file]);
  const out = collect(proc);
  await waitFor('LB ready', () => (out.text().includes('"ready":true') ? true : undefined), 10_000);
  return { proc, out };
}

/**
 * usrsctp's echo `client` to `vip` port 7, with numbered lines: `send(label)` writes `label-N`,
 * `echoed(lines, what)` waits until every one came back, `sent` lists all lines written.
 */
export function echoClient(topo: Topology, ns: string, vip: string) {
  const client = topo.spawn(ns, `${USRSCTP}/client`, [vip, '7']);
  const out = collect(client);
  let n = 0;
  const sent: string[] = [];
  const send = (label: string) => {
    const line = `${label}-${n++}`;
    sent.push(line);
    client.stdin?.write(`${line}\n`);
    return line;
  };
  const echoed = (lines: readonly string[], what: string, ms = 60_000) =>
    waitFor(what, () => (lines.every((l) => out.text().includes(l)) ? true : undefined), ms);
  return { client, out, sent, send, echoed };
}

export interface Collected {
  text(): string;
  lines(): string[];
}

/** Collects a child's stdout as text and lines. */
export function collect(p: ChildProcess): Collected {
  let buf = '';
  p.stdout?.setEncoding('utf8');
  p.stdout?.on('data', (d: string) => (buf += d));
  return { text: () => buf, lines: () => buf.split('\n').filter(Boolean) };
}

/** tcpdump of every SCTP packet in a namespace, written as it comes (-U) to `file`. */
export const startCapture = (topo: Topology, ns: string, file: string): ChildProcess =>
  topo.spawn(ns, 'tcpdump', ['-i', 'any', '-U', '-s', '0', '-w', file, 'sctp']);

/** Stops captures and waits (bounded) until they have written their last packets. */
export async function stopCaptures(procs: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    }),
  );
}

export const capturedPackets = (file: string): IpPacket[] => readPcapIp(file).map(decodeIp);

/** Fails if any captured packet carries one of `forbidden` anywhere: IP header or SCTP payload. */
export function assertNeverSeen(pkts: readonly IpPacket[], forbidden: readonly string[], side: string): void {
  for (const text of forbidden) {
    const a = parseIp(text);
    for (const p of pkts)
      if (containsAddress(p.ip.raw, a) || containsAddress(p.payload, a))
        throw new Error(`${side} saw ${text} (${formatIp(p.ip.src)} → ${formatIp(p.ip.dst)})`);
  }
}

/** The bed's multihomed fullnat SCTP service as `ferrolb run` config: pool, primary + two secondaries. */
export const multihomedConfig = (plan: SctpPlan, name: string, port = 7, extraSpec = ''): string => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: ${name}-vips}
spec: {addresses: ["${plan.vipNet}"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: ${name}}
spec:
  addresses: ["${plan.vips[0]}"]
  secondaryAddresses: ["${plan.vips[1]}", "${plan.vips[2]}"]
  ports: [{port: ${port}, protocol: SCTP}]
  mode: fullnat
  endpoints: [{address: "${plan.endpoint}"}]
  ${extraSpec}
`;
