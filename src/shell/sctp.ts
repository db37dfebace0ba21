// Carries multihomed SCTP services (fullnat + SCTP + secondary addresses) through the SCTP NAT engine:
// while at least one such service is Allocated (and the data plane is on) it runs the NFQUEUE shell
// with the nft fast path, exactly as the stand-alone src/sctp/shell/main.ts does, plus what the
// stand-alone e2e set up by hand: sysctls, SCTP NOTRACK and NFQUEUE rules for the VIPs (in chains of
// its own), and the VIPs on an interface of its own. Everything goes away when the last such service
// does, or on stop(). The engine's services follow snapshots and endpoint health (only active
// endpoints take new associations). The queue, engine and fast-path writes run on a thread of their
// own (SctpCarrier on sctp/thread/worker.ts) so config work here never delays a packet's verdict.
import type { MessagePort } from 'node:worker_threads';
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { hostRunner, type Runner } from '../dataplane/exec.js';
import { removeVipInterface, syncVips } from '../dataplane/vip.js';
import { formatIp, type IpAddr } from '../net/ip.js';
import { fastPathDropScript, fastPathEnsureScript } from '../sctp/kernel/nft.js';
import {
  FAST_PATH_NAMES,
  NativeUnavailableError,
  fastPathTable,
  loadPacketIo,
  type AssociationView,
  type EngineLimits,
  type PacketIo,
  type QueueStats,
  type SctpService,
} from '../sctp/index.js';
import type { WriterStats } from '../sctp/kernel/writer.js';
import { SctpCarrier, type AdoptionStatus, type CarrierStatus } from '../sctp/shell/carrier.js';
import { sctpLimitsFromEnv } from '../sctp/limits.js';
import { registerSctpShellMetrics } from './sctp-metrics.js';
import type { NfqueueStats } from '../sctp/kernel/queuestats.js';
import type { SyncStats } from '../sctp/shell/sync.js';
import { SctpThread } from '../sctp/thread/client.js';
import { sctpServices } from './bridge.js';
import type { Runtime } from './runtime.js';

export const SCTP_VIP_INTERFACE = 'ferrolbsctp0';
export const SCTP_CHAIN = 'FERROLB-SCTP';
export const SCTP_OUT_CHAIN = 'FERROLB-SCTP-OUT';
export const DEFAULT_SCTP_QUEUE = 7100;

export interface SctpShellOptions {
  readonly runtime: Runtime;
  readonly log: Logger;
  /** The data plane is on: without it nothing is installed. */
  readonly kernel: boolean;
  readonly queueNum?: number;
  /** Engine limits; default: DEFAULT_LIMITS overridden by FERROLB_SCTP_* (sctpLimitsFromEnv). */
  readonly limits?: Partial<EngineLimits>;
  /**
   * On stop, leave the fast path, rules and VIPs in place (--keep-forwarding): established
   * associations keep flowing through the kernel and the next start adopts them.
   */
  readonly keepForwarding?: boolean;
  /** For tests: the packet I/O and the command runner. */
  readonly loadIo?: () => PacketIo;
  readonly run?: Runner;
}

export interface SctpStatus {
  /** The engine and its queue run (some multihomed SCTP service is Allocated). */
  readonly running: boolean;
  /** Why multihomed SCTP services are not carried (addon or NFQUEUE missing, ...). */
  readonly error?: string;
  readonly queue: number;
  readonly services: readonly string[];
  readonly associations: readonly AssociationView[];
  /** Half-open associations (INIT seen, not established): bounded by maxHalfOpen. */
  readonly halfOpen?: number;
  /** Handshakes completed from the LB's State Cookie after the half-open bound let them go (floods). */
  readonly rebuiltFromCookie?: number;
  /** What the last start took over from the kernel. */
  readonly adopted?: AdoptionStatus;
  readonly stats?: QueueStats;
  /** The batched fast-path writer (nft runs, scripts, failures). */
  readonly writer?: WriterStats;
  /** How long the last counter poll took, and the interval it implies. */
  readonly counterPoll?: { readonly lastMs: number; readonly intervalMs: number };
  /** The kernel's NFQUEUE counters: packets dropped on overflow before the engine saw them. */
  readonly kernelQueue?: NfqueueStats;
  /** HA state sync of associations (docs/ha-sctp.md), once the Cluster's channel is attached. */
  readonly sync?: SyncStats;
}

/** The running SCTP path: on its own thread in the daemon, in-process in tests. */
interface Carrier {
  setServices(services: readonly SctpService[]): void;
  status(): CarrierStatus | undefined;
  /** Brings status() up to date (the thread publishes periodically); in-process carriers are current. */
  refresh?(): Promise<void>;
  stop(): Promise<void>;
}

interface Running {
  readonly carrier: Carrier;
  /** VIPs the iptables chains currently name, per family. */
  vips: string;
}

const familyCmd = (f: 4 | 6) => (f === 4 ? 'iptables' : 'ip6tables');

export class SctpShell {
  private readonly run: Runner;
  private readonly queueNum: number;
  private cur: Running | undefined;
  private services: SctpService[] = [];
  private error: string | undefined;
  private syncing: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  /** Whether start-up looked for what a previous run left (--keep-forwarding, kill -9). */
  private leftoversChecked = false;
  /** sysctl files changed by start-up, with their previous values (restored on teardown). */
  private readonly sysctls = new Map<string, string>();
  private polling = false;
  /** What is installed, so teardown undoes exactly that (and touches nothing after an early failure). */
  private readonly installed = { fastPath: false, vips: false, rules: new Set<4 | 6>() };

  private readonly limits: Partial<EngineLimits>;
  /** The Cluster's state sync (docs/ha-sctp.md): a fresh port for each carrier (thread) start. */
  private openSync: (() => MessagePort) | undefined;

  /** Throws SctpLimitsError naming the variable and value when a FERROLB_SCTP_* setting is invalid. */
  constructor(private readonly opts: SctpShellOptions) {
    this.run = opts.run ?? hostRunner;
    this.queueNum = opts.queueNum ?? DEFAULT_SCTP_QUEUE;
    this.limits = opts.limits ?? sctpLimitsFromEnv(process.env);
  }

  private readonly onChange = () => this.kick();

  /**
   * Replicates this node's associations over the Cluster's sync channel: every carrier started
   * from now on (and every restart of its thread) gets a port from `open`.
   */
  attachSync(open: () => MessagePort): void {
    this.openSync = open;
  }

  async start(): Promise<void> {
    this.opts.runtime.on('snapshot', this.onChange);
    this.opts.runtime.on('health', this.onChange);
    this.kick();
    await this.syncing;
  }

  private kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.syncing ??= (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        await this.sync().catch((err: unknown) => this.opts.log.error({ err }, 'sctp: sync failed'));
      }
    })().finally(() => (this.syncing = undefined));
  }

  private async sync(): Promise<void> {
    const rt = this.opts.runtime;
    const services = sctpServices(rt.snapshot, (s, a) => rt.endpointState(s, a));
    this.services = services;
    if (services.length === 0) {
      if (this.cur) {
        await this.teardown();
        this.opts.log.info('sctp: no multihomed SCTP service left; engine stopped');
      } else if (this.opts.kernel && !this.leftoversChecked) await this.removeLeftovers();
      this.error = undefined;
      return;
    }
    if (!this.opts.kernel) return;
    if (!this.cur) {
      if (this.error) return; // already reported; a restart of the daemon retries
      try {
        await this.setup(services);
      } catch (err) {
        this.error = err instanceof Error ? err.message : String(err);
        this.opts.log.error(
          { err, services: [...new Set(services.map((s) => s.name))] },
          `sctp: multihomed SCTP services are NOT carried: ${this.error}`,
        );
        await this.teardown().catch(() => undefined);
        return;
      }
    }
    const cur = this.cur as Running | undefined;
    if (!cur) return;
    cur.carrier.setServices(services);
    await this.installVips(services);
    const vips = vipList(services);
    if (vips.join(' ') !== cur.vips) {
      await this.installRules(vips);
      cur.vips = vips.join(' ');
    }
  }

  private async setup(services: SctpService[]): Promise<void> {
    let io: PacketIo | undefined;
    try {
      // In the daemon the addon is loaded here only to report its absence clearly; the queue itself
      // opens on the carrier thread. Tests hand in a fake PacketIo and run the carrier in-process.
      if (this.opts.loadIo) io = this.opts.loadIo();
      else loadPacketIo();
    } catch (e) {
      if (e instanceof NativeUnavailableError)
        throw new Error(
          `native NFQUEUE addon ferrolb_nfqueue.node missing (tried ${e.tried.join(', ')}; build it with npm run build)`,
        );
      throw e;
    }
    await this.setSysctls();
    await this.installFastPath();
    const queueErr = (e: unknown) =>
      new Error(
        `NFQUEUE ${this.queueNum} unavailable (${e instanceof Error ? e.message : String(e)}; kernel module nfnetlink_queue?)`,
      );
    let carrier: Carrier;
    if (io) {
      try {
        carrier = await SctpCarrier.start({
          queueNum: this.queueNum,
          io,
          services,
          limits: this.limits,
          run: this.run,
          warn: (msg: string, err?: unknown) => this.opts.log.warn({ err }, msg),
        });
      } catch (e) {
        throw queueErr(e);
      }
    } else {
      carrier = await SctpThread.start({
        queueNum: this.queueNum,
        services,
        limits: this.limits,
        log: (level, msg, err) => this.opts.log[level]({ err }, msg),
      }).catch((e: unknown) => {
        throw queueErr(e);
      });
    }
    if (this.openSync) {
      if (carrier instanceof SctpThread) carrier.attachSync(this.openSync);
      else if (carrier instanceof SctpCarrier) carrier.attachSync(this.openSync());
    }
    this.cur = { carrier, vips: '' };
    this.opts.log.info(
      { queue: this.queueNum, services: [...new Set(services.map((s) => s.name))], thread: !io },
      'sctp: multihoming engine started',
    );
  }

  private async setSysctls(): Promise<void> {
    // Translated packets carry a VIP (a local address) as source: IPv4 drops them as martians unless
    // accept_local is on and rp_filter off, on every device; forwarding on for both families.
    const { stdout } = await this.must('ip', ['-o', 'link', 'show']);
    const devs = stdout
      .split('\n')
      .map((l) => l.split(': ')[1]?.split('@')[0])
      .filter((d): d is string => !!d);
    const want: [string, string][] = [
      ['net/ipv4/ip_forward', '1'],
      ['net/ipv6/conf/all/forwarding', '1'],
    ];
    for (const d of ['all', 'default', ...devs])
      want.push([`net/ipv4/conf/${d}/accept_local`, '1'], [`net/ipv4/conf/${d}/rp_filter`, '0']);
    for (const [k, v] of want) {
      const path = `/proc/sys/${k}`;
      let old: string;
      try {
        old = (await readFile(path, 'utf8')).trim();
      } catch {
        continue; // device gone, or IPv6 disabled
      }
      if (old === v) continue;
      await writeFile(path, v);
      // Forwarding is left on: the nft data plane needs it as well.
      if (!k.endsWith('forwarding') && !k.endsWith('ip_forward') && !this.sysctls.has(path))
        this.sysctls.set(path, old);
    }
  }

  /**
   * Restart = adopt: the table a previous run left (kill -9, upgrade with --keep-forwarding) keeps its
   * elements; the carrier rebuilds its associations from them. Only a table of another layout (an
   * older version's) is replaced, which flushes it.
   */
  private async installFastPath(): Promise<void> {
    this.installed.fastPath = true;
    const r = await this.run('nft', ['-f', '-'], fastPathEnsureScript());
    if (r.code === 0) return;
    this.opts.log.warn(
      { stderr: r.stderr.trim() },
      `sctp: the fast-path table ${FAST_PATH_NAMES.table} has another layout; replaced (its paths are flushed)`,
    );
    await this.dropFastPath();
    await this.must('nft', ['-f', '-'], fastPathTable());
  }

  private async dropFastPath(): Promise<void> {
    await this.must('nft', ['-f', '-'], fastPathDropScript());
  }

  private async installVips(services: SctpService[]): Promise<void> {
    this.installed.vips = true;
    await syncVips(this.run, SCTP_VIP_INTERFACE, vipList(services));
  }

  /** NOTRACK for SCTP to/from the VIPs and NFQUEUE for SCTP to them, in chains of our own. */
  private async installRules(vips: string[]): Promise<void> {
    for (const f of [4, 6] as const) {
      const mine = vips.filter((v) => v.includes(':') === (f === 6));
      const cmd = familyCmd(f);
      if (mine.length === 0) {
        await this.removeRules(f);
        continue;
      }
      this.installed.rules.add(f);
      const chains = [
        ['raw', SCTP_CHAIN, 'PREROUTING'],
        ['raw', SCTP_OUT_CHAIN, 'OUTPUT'],
        ['mangle', SCTP_CHAIN, 'PREROUTING'],
      ] as const;
      for (const [table, chain] of chains) {
        const has = await this.run(cmd, ['-t', table, '-n', '-L', chain]);
        if (has.code !== 0) await this.must(cmd, ['-t', table, '-N', chain]);
      }
      // Chain contents replaced atomically (a declared chain is flushed by iptables-restore --noflush).
      const rules = [
        '*raw',
        `:${SCTP_CHAIN} - [0:0]`,
        `:${SCTP_OUT_CHAIN} - [0:0]`,
        ...mine.map((v) => `-A ${SCTP_CHAIN} -d ${v} -j NOTRACK`),
        ...mine.map((v) => `-A ${SCTP_OUT_CHAIN} -s ${v} -j NOTRACK`),
        'COMMIT',
        '*mangle',
        `:${SCTP_CHAIN} - [0:0]`,
        // No --queue-bypass: while no carrier listens (a crash, a restart) control chunks are dropped
        // and retransmitted by the peers, instead of reaching the node's own SCTP stack untranslated
        // (which answers ABORT or ICMP protocol-unreachable and kills the association).
        ...mine.map((v) => `-A ${SCTP_CHAIN} -d ${v} -j NFQUEUE --queue-num ${this.queueNum}`),
        'COMMIT',
        '',
      ].join('\n');
      await this.must(`${cmd}-restore`, ['--noflush'], rules);
      for (const [table, chain, from] of chains) {
        const jump = [from, '-p', 'sctp', '-j', chain];
        if ((await this.run(cmd, ['-t', table, '-C', ...jump])).code !== 0)
          await this.must(cmd, ['-t', table, '-I', ...jump]);
      }
    }
  }

  private async removeRules(f: 4 | 6): Promise<void> {
    if (!this.installed.rules.has(f)) return;
    const cmd = familyCmd(f);
    for (const [table, chain, from] of [
      ['mangle', SCTP_CHAIN, 'PREROUTING'],
      ['raw', SCTP_CHAIN, 'PREROUTING'],
      ['raw', SCTP_OUT_CHAIN, 'OUTPUT'],
    ] as const) {
      const jump = [from, '-p', 'sctp', '-j', chain];
      while ((await this.run(cmd, ['-t', table, '-C', ...jump])).code === 0)
        await this.must(cmd, ['-t', table, '-D', ...jump]);
      if ((await this.run(cmd, ['-t', table, '-n', '-L', chain])).code === 0) {
        await this.must(cmd, ['-t', table, '-F', chain]);
        await this.must(cmd, ['-t', table, '-X', chain]);
      }
    }
    this.installed.rules.delete(f);
  }

  /**
   * A previous run (kill -9, or a stop with --keep-forwarding) left the SCTP path in place, and this
   * one starts without any multihomed SCTP service: nothing would ever adopt or remove it, so it goes.
   */
  private async removeLeftovers(): Promise<void> {
    this.leftoversChecked = true;
    const table = await this.run('nft', ['list', 'table', 'ip', FAST_PATH_NAMES.table]);
    const rules = await Promise.all(
      (['iptables', 'ip6tables'] as const).map((c) => this.run(c, ['-t', 'mangle', '-n', '-L', SCTP_CHAIN])),
    );
    if (table.code !== 0 && rules.every((r) => r.code !== 0)) return;
    this.opts.log.info(
      'sctp: removing the SCTP fast path and rules a previous run left (no multihomed SCTP service now)',
    );
    this.installed.fastPath = true;
    this.installed.vips = true;
    this.installed.rules.add(4).add(6);
    await this.teardown().catch((err: unknown) =>
      this.opts.log.warn({ err }, 'sctp: removing leftovers failed'),
    );
  }

  /** Removes everything setup() installed: queue, rules, fast path, VIPs, sysctls. */
  private async teardown(): Promise<void> {
    const cur = this.cur;
    this.cur = undefined;
    if (cur) await cur.carrier.stop();
    const errors: unknown[] = [];
    const step = async (f: () => Promise<void> | void) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    // Rules first: with the queue closed, --queue-bypass lets packets through untranslated.
    await step(() => this.removeRules(4));
    await step(() => this.removeRules(6));
    if (this.installed.fastPath)
      await step(async () => {
        await this.dropFastPath();
        this.installed.fastPath = false;
      });
    if (this.installed.vips)
      await step(async () => {
        await removeVipInterface(this.run, SCTP_VIP_INTERFACE);
        this.installed.vips = false;
      });
    for (const [path, old] of this.sysctls) await step(() => writeFile(path, old));
    this.sysctls.clear();
    if (errors.length > 0) throw errors[0];
  }

  /** status() as of now: the carrier thread is asked for a fresh one first. */
  async currentStatus(): Promise<SctpStatus> {
    await this.cur?.carrier.refresh?.();
    return this.status();
  }

  status(): SctpStatus {
    const cur = this.cur;
    const st = cur?.carrier.status();
    return {
      running: cur !== undefined,
      ...(this.error ? { error: this.error } : {}),
      queue: this.queueNum,
      services: [...new Set(this.services.map((s) => s.name))],
      associations: st?.associations ?? [],
      ...(st
        ? {
            halfOpen: st.halfOpen,
            rebuiltFromCookie: st.rebuiltFromCookie,
            ...(st.adopted ? { adopted: st.adopted } : {}),
            stats: st.stats,
            writer: st.writer,
            counterPoll: st.counterPoll,
            ...(st.kernelQueue ? { kernelQueue: st.kernelQueue } : {}),
            ...(st.sync ? { sync: st.sync } : {}),
          }
        : {}),
    };
  }

  /** Prometheus metrics from the carrier's last published status (no work at scrape time). */
  registerMetrics(r: Registry): void {
    registerSctpShellMetrics(r, () => this.cur?.carrier.status());
  }

  /** Leaves nothing behind (the SCTP path cannot run without the daemon, keepForwarding or not). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.runtime.off('snapshot', this.onChange);
    this.opts.runtime.off('health', this.onChange);
    await this.syncing;
    const any =
      this.cur ||
      this.sysctls.size > 0 ||
      this.installed.fastPath ||
      this.installed.vips ||
      this.installed.rules.size > 0;
    if (!any) return;
    if (this.opts.keepForwarding) {
      // The kernel keeps carrying established associations; the next start adopts them.
      const cur = this.cur;
      this.cur = undefined;
      if (cur) await cur.carrier.stop();
      this.opts.log.info(
        'sctp: multihoming engine stopped; fast path, rules and VIPs kept (--keep-forwarding)',
      );
      return;
    }
    await this.teardown();
    this.opts.log.info('sctp: multihoming engine stopped, rules removed');
  }

  private async must(cmd: string, args: string[], input?: string) {
    const r = await this.run(cmd, args, input);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  }
}

function vipList(services: readonly SctpService[]): string[] {
  const all = new Set<string>();
  for (const s of services) for (const v of s.vips) all.add(formatIp(v as IpAddr));
  return [...all].sort();
}
