// Layer 2 test bed: a switch namespace (bridge br0), a client and LB namespaces on it, each LB with
// ferrolb0 holding the service addresses as local routes (as the data plane does), a KernelAnnouncer
// harness per LB (test/support/l2-harness.ts) and captures on the bridge. Shared by e2e and bench.
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nsExec, sh, Topology, waitFor } from './netns.js';
import type { AnnouncerStatus, L2Candidate } from '../../src/cluster/contract.js';

export const HARNESS = fileURLToPath(new URL('./l2-harness.js', import.meta.url));

export interface LbNode {
  readonly name: string;
  readonly ns: string;
  readonly dev: string;
  readonly mac: string;
  readonly v4: string;
  readonly v6: string;
}

export class Harness {
  private next = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  readonly logs: Record<string, unknown>[] = [];
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof m.id === 'number') this.waiting.get(m.id)?.(m);
      else this.logs.push(m);
    });
  }
  async send(cmd: object): Promise<Record<string, unknown>> {
    const id = this.next++;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`harness: no reply to ${JSON.stringify(cmd)}`)),
        15_000,
      );
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (m.error) reject(new Error(String(m.error)));
        else resolve(m);
      });
    });
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return reply;
  }
  candidates = (c: L2Candidate[]) => this.send({ candidates: c });
  own = (owned: Record<string, string[]>) => this.send({ owned });
  async status(): Promise<AnnouncerStatus[]> {
    return (await this.send({ status: true })).status as AnnouncerStatus[];
  }
  kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGKILL');
    return gone;
  }
}

export class L2Bed {
  readonly t = new Topology();
  sw = '';
  client = '';
  clientDev = '';
  readonly lbs: LbNode[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'ferrolb-l2-'));

  /**
   * `n` LB namespaces; the service addresses `vips` are local routes on each one's ferrolb0.
   * `vipDevice: false`: no ferrolb0 (a real daemon with its data plane creates it).
   */
  async build(n: number, vips: readonly string[], opts: { vipDevice?: boolean } = {}): Promise<void> {
    this.sw = await this.t.addNs('sw');
    await nsExec(this.sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await nsExec(this.sw, 'ip', ['link', 'set', 'br0', 'up']);
    this.client = await this.t.addNs('c');
    const c = await this.t.link(this.client, ['10.79.0.2/24', 'fd79::2/64'], this.sw, []);
    this.clientDev = c.aDev;
    await this.port(c.bDev);
    for (let i = 1; i <= n; i++) {
      const ns = await this.t.addNs(`lb${i}`);
      const v4 = `10.79.0.${10 + i}`;
      const v6 = `fd79::${10 + i}`;
      const l = await this.t.link(ns, [`${v4}/24`, `${v6}/64`], this.sw, []);
      await this.port(l.bDev);
      if (opts.vipDevice ?? true) {
        await nsExec(ns, 'ip', ['link', 'add', 'ferrolb0', 'type', 'bridge']);
        await nsExec(ns, 'ip', ['link', 'set', 'ferrolb0', 'up']);
        await nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.ip_forward=1']);
        const batch = vips.map((v) => `route add local ${v} dev ferrolb0 table local proto 250`).join('\n');
        await sh('sh', ['-c', `printf '%s\\n' "$1" | ip netns exec ${ns} ip -batch -`, 'sh', batch]);
      }
      const mac = JSON.parse(await nsExec(ns, 'ip', ['-j', 'link', 'show', 'dev', l.aDev]))[0]
        .address as string;
      this.lbs.push({ name: `lb${i}`, ns, dev: l.aDev, mac, v4, v6 });
    }
  }

  private async port(dev: string): Promise<void> {
    await nsExec(this.sw, 'ip', ['link', 'set', dev, 'master', 'br0']);
    await nsExec(this.sw, 'ip', ['link', 'set', dev, 'up']);
  }

  /** Starts the announcer harness in an LB namespace (also a TCP server on 8080 answering its name). */
  async harness(lb: LbNode, extra: string[] = []): Promise<Harness> {
    const p = this.t.spawn(lb.ns, process.execPath, [HARNESS, '--name', lb.name, '--port', '8080', ...extra]);
    const h = new Harness(p);
    await h.send({}); // started (table created, kernel read)
    return h;
  }

  /** MACs that answered `arping -c count` for `address` from the client. */
  async arpingMacs(address: string, count = 2): Promise<string[]> {
    const out = await nsExec(
      this.client,
      'arping',
      ['-c', String(count), '-W', '0.2', '-w', '2', '-i', this.clientDev, address],
      {
        timeoutMs: 10_000,
      },
    ).catch((e: { stdout?: string }) => e.stdout ?? '');
    return [...new Set([...out.matchAll(/from ([0-9a-f:]{17})/gi)].map((m) => m[1]!.toLowerCase()))].sort();
  }

  /** The client's neighbour entry for `address` (lladdr), if any. */
  async clientNeigh(address: string): Promise<string | undefined> {
    const j = JSON.parse(await nsExec(this.client, 'ip', ['-j', 'neigh', 'show', address])) as {
      lladdr?: string;
    }[];
    return j[0]?.lladdr;
  }

  /** One TCP connection from the client to address:8080; resolves with the node name it reached. */
  tcp(address: string, timeoutMs = 1000): Promise<string> {
    return nsExec(
      this.client,
      process.execPath,
      [
        '-e',
        `const s=require('net').connect({host:process.argv[1],port:8080,timeout:${timeoutMs}});let d='';` +
          `s.on('data',x=>d+=x);s.on('end',()=>{console.log(d.trim());process.exit(0)});` +
          `s.on('timeout',()=>process.exit(2));s.on('error',()=>process.exit(3));`,
        address,
      ],
      { timeoutMs: timeoutMs + 5000 },
    ).then((o) => o.trim());
  }

  /** Captures on the bridge until stop(); returns the decoded fields of every ARP/NA frame. */
  capture(name: string): Promise<{ stop(): Promise<CapturedFrame[]> }> {
    return captureBridge(this.t, this.sw, join(this.dir, `${name}.pcap`));
  }

  async cleanup(): Promise<void> {
    await this.t.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** tshark on br0 of namespace `sw` into `file` until stop(): the decoded ARP/NA frames. */
export async function captureBridge(
  t: Topology,
  sw: string,
  file: string,
): Promise<{ stop(): Promise<CapturedFrame[]> }> {
  const p = t.spawn(sw, 'tshark', ['-q', '-i', 'br0', '-w', file, '-f', 'arp or icmp6']);
  let said = '';
  p.stderr!.on('data', (d: Buffer) => (said += d.toString()));
  await waitFor('tshark to capture', () => (said.includes('Capturing on') ? true : undefined), 15_000, 20);
  await new Promise((r) => setTimeout(r, 500)); // dumpcap says "Capturing" a little before it does
  return {
    stop: async () => {
      await new Promise((r) => setTimeout(r, 300));
      p.kill('SIGINT');
      await new Promise((r) => p.once('exit', r));
      return readCapture(file);
    },
  };
}

export interface CapturedFrame {
  readonly time: number;
  readonly src: string;
  /** 'arp-request' | 'arp-reply' | 'ns' | 'na' */
  readonly kind: string;
  /** ARP sender IP / NA target. */
  readonly sender: string;
  /** ARP target IP / NS target. */
  readonly target: string;
  readonly override: boolean;
  readonly solicited: boolean;
}

async function readCapture(file: string): Promise<CapturedFrame[]> {
  const out = await sh(
    'tshark',
    [
      '-r',
      file,
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'frame.time_epoch',
      '-e',
      'eth.src',
      '-e',
      'arp.opcode',
      '-e',
      'arp.src.proto_ipv4',
      '-e',
      'arp.dst.proto_ipv4',
      '-e',
      'icmpv6.type',
      '-e',
      'icmpv6.nd.na.target_address',
      '-e',
      'icmpv6.nd.ns.target_address',
      '-e',
      'icmpv6.nd.na.flag.o',
      '-e',
      'icmpv6.nd.na.flag.s',
    ],
    { timeoutMs: 30_000 },
  );
  const frames: CapturedFrame[] = [];
  for (const line of out.split('\n').filter(Boolean)) {
    const [time, src, op, as, ad, type, nat, nst, o, s] = line.split('|');
    const kind =
      op === '1'
        ? 'arp-request'
        : op === '2'
          ? 'arp-reply'
          : type === '135'
            ? 'ns'
            : type === '136'
              ? 'na'
              : '';
    if (!kind) continue;
    frames.push({
      time: Number(time),
      src: src!.toLowerCase(),
      kind,
      sender: kind.startsWith('arp') ? as! : (nat ?? ''),
      target: kind.startsWith('arp') ? ad! : (nst ?? ''),
      override: o === '1' || o === 'True',
      solicited: s === '1' || s === 'True',
    });
  }
  return frames;
}
