// One LB topology for data plane e2e tests: a client, an LB and N backends on a bridge behind the LB.
//
//   client (10.201.1.2, fd01:1::2) ── LB (10.201.1.1 | br0 10.201.2.1, fd01:2::1) ── b1..bN (10.201.2.1x)
//
// The client routes the VIP prefixes (10.200.0.0/24, fd00:200::/64) via the LB; backends route
// everything via the LB only when `backendDefaultRoute` (default mode needs it; fullnat must not).
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { nsExec, Topology, waitFor } from '../../support/netns.js';
import { netnsRunner, type Runner } from '../../../src/dataplane/exec.js';
import { heldVips } from '../../../src/dataplane/vip.js';
import type { DataplaneEndpoint, DataplaneService } from '../../../src/dataplane/types.js';

const here = dirname(fileURLToPath(import.meta.url));
export const BACKEND_JS = join(here, 'backend.js');
export const CLIENT_JS = join(here, 'client.js');

export const VIP4 = '10.200.0.10';
export const VIP6 = 'fd00:200::10';
export const LB_BR4 = '10.201.2.1';
export const LB_BR6 = 'fd01:2::1';
export const CLIENT4 = '10.201.1.2';
export const CLIENT6 = 'fd01:1::2';

export interface Backend {
  readonly name: string;
  readonly ns: string;
  readonly v4: string;
  readonly v6: string;
}

export interface LbTopo {
  readonly topo: Topology;
  readonly client: string;
  readonly lb: string;
  readonly backends: readonly Backend[];
  /** Runs commands in the LB namespace (hand it to the Applier). */
  readonly run: Runner;
}

export async function buildLbTopology(
  topo: Topology,
  opts: { backends?: number; backendDefaultRoute?: boolean; servers?: boolean } = {},
): Promise<LbTopo> {
  const client = await topo.addNs('c');
  const lb = await topo.addNs('lb');
  await topo.link(client, [`${CLIENT4}/24`, `${CLIENT6}/64`], lb, ['10.201.1.1/24', 'fd01:1::1/64']);
  await nsExec(lb, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
  await nsExec(lb, 'ip', ['addr', 'add', `${LB_BR4}/24`, 'dev', 'br0']);
  await nsExec(lb, 'ip', ['addr', 'add', `${LB_BR6}/64`, 'dev', 'br0', 'nodad']);
  await nsExec(lb, 'ip', ['link', 'set', 'br0', 'up']);
  await nsExec(lb, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await nsExec(lb, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  await nsExec(client, 'ip', ['route', 'add', '10.200.0.0/24', 'via', '10.201.1.1']);
  await nsExec(client, 'ip', ['-6', 'route', 'add', 'fd00:200::/64', 'via', 'fd01:1::1']);
  const backends: Backend[] = [];
  for (let i = 1; i <= (opts.backends ?? 3); i++) {
    const ns = await topo.addNs(`b${i}`);
    const v4 = `10.201.2.${10 + i}`;
    const v6 = `fd01:2::${10 + i}`;
    const { bDev } = await topo.link(ns, [`${v4}/24`, `${v6}/64`], lb, []);
    await nsExec(lb, 'ip', ['link', 'set', bDev, 'master', 'br0']);
    if (opts.backendDefaultRoute ?? true) {
      await nsExec(ns, 'ip', ['route', 'add', 'default', 'via', LB_BR4]);
      await nsExec(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', LB_BR6]);
    }
    backends.push({ name: `b${i}`, ns, v4, v6 });
  }
  if (opts.servers ?? true) await Promise.all(backends.map((b) => startBackend(topo, b)));
  return { topo, client, lb, backends, run: netnsRunner(lb) };
}

export async function startBackend(topo: Topology, b: Backend): Promise<ChildProcess> {
  const p = topo.spawn(b.ns, process.execPath, [BACKEND_JS, b.name]);
  await waitFor(`${b.name} ready`, () => lines(p).includes('ready') || undefined, 10_000);
  return p;
}

const seen = new WeakMap<ChildProcess, string[]>();
/** Every stdout line a process printed so far. */
export function lines(p: ChildProcess): string[] {
  let l = seen.get(p);
  if (!l) {
    const arr: string[] = [];
    seen.set(p, arr);
    createInterface({ input: p.stdout! }).on('line', (x) => arr.push(x));
    l = arr;
  }
  return l;
}

export interface Batch {
  readonly replies: string[];
  readonly errors: number;
}

const parseBatch = (out: string): Batch => JSON.parse(out.trim().split('\n').pop()!) as Batch;

/** `from`: the client's source address (default: the kernel's choice); `ns`: default the client's. */
export async function httpBatch(
  t: LbTopo,
  host: string,
  port: number,
  count: number,
  opts: { from?: string; ns?: string } = {},
): Promise<Batch> {
  const h = host.includes(':') ? `[${host}]` : host;
  const out = await nsExec(
    opts.ns ?? t.client,
    process.execPath,
    [CLIENT_JS, 'http', `http://${h}:${port}/`, String(count), opts.from ?? ''],
    {
      timeoutMs: 60_000,
    },
  );
  return parseBatch(out);
}

/** `from`/`sport`: the client's source address and port (default: the kernel's choice). */
export async function udpBatch(
  t: LbTopo,
  host: string,
  port: number,
  count: number,
  opts: { from?: string; sport?: number } = {},
): Promise<Batch> {
  const out = await nsExec(
    t.client,
    process.execPath,
    [CLIENT_JS, 'udp', host, String(port), String(count), opts.from ?? '', String(opts.sport ?? '')],
    {
      timeoutMs: 60_000,
    },
  );
  return parseBatch(out);
}

/** Replies per backend name ("b1 …" → b1). */
export function tally(replies: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of replies) {
    const name = r.split(' ')[0]!;
    m.set(name, (m.get(name) ?? 0) + 1);
  }
  return m;
}

/** A long-lived TCP connection from the client through the VIP to the echo port. */
export class Hold {
  private readonly out: string[];
  private sent = 0;
  private constructor(readonly proc: ChildProcess) {
    this.out = lines(proc);
  }
  static async open(t: LbTopo, host: string, port: number, from = ''): Promise<Hold> {
    const h = new Hold(
      t.topo.spawn(t.client, process.execPath, [CLIENT_JS, 'hold', host, String(port), from]),
    );
    await waitFor('connection', () => (h.out.includes('connected') ? true : undefined), 5000);
    return h;
  }
  /** Sends a line and returns the reply ("<backend> <line>"), or throws when the connection died. */
  async ping(timeoutMs = 3000): Promise<string> {
    const tag = `p${++this.sent}`;
    this.proc.stdin!.write(`${tag}\n`);
    return waitFor(
      `echo ${tag}`,
      () => {
        const hit = this.out.find((l) => l.endsWith(` ${tag}`));
        if (hit) return hit;
        const dead = this.out.find((l) => l.startsWith('error') || l === 'closed');
        if (dead) throw new Error(`connection ended: ${dead}`);
        return undefined;
      },
      timeoutMs,
    );
  }
  get backend(): string | undefined {
    return this.out.find((l) => / p\d+$/.test(l))?.split(' ')[0];
  }
  get ended(): boolean {
    return this.out.some((l) => l.startsWith('error') || l === 'closed');
  }
}

/** Every backend as an active endpoint, of one family or both (46), with per-backend overrides. */
export const eps = (
  t: LbTopo,
  family: 4 | 6 | 46,
  overrides: Partial<Record<string, Partial<DataplaneEndpoint>>> = {},
) =>
  t.backends.flatMap((b) =>
    (family === 46 ? [b.v4, b.v6] : [family === 4 ? b.v4 : b.v6]).map((address) => ({
      address,
      weight: 1,
      state: 'active' as const,
      ...overrides[b.name],
    })),
  );

/** The data plane tests' usual service: both VIPs, HTTP, a second TCP port and DNS over UDP. */
export const webService = (t: LbTopo, over: Partial<DataplaneService> = {}): DataplaneService => ({
  name: 'default/web',
  addresses: [VIP4, VIP6],
  ports: [
    { port: 80, protocol: 'TCP', targetPort: 8080 },
    { port: 7000, protocol: 'TCP', targetPort: 9000 },
    { port: 53, protocol: 'UDP', targetPort: 5353 },
  ],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: eps(t, 46),
  ...over,
});

/** VIPs the LB namespace holds on ferrolb0 (local routes or addresses), as one sorted text. */
export async function vipsText(t: LbTopo, dev = 'ferrolb0'): Promise<string> {
  return [...((await heldVips(t.run, dev)) ?? [])].sort().join(' ');
}
