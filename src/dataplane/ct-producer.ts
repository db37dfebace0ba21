// Kernel conntrack replication, the shell: reads this node's conntrack events (one long-running
// `conntrack -E -o extended` child, never a sync spawn), publishes the flows of ferrolb's services to
// the Cluster's sync channel (sync-contract.ts), answers full-state pulls from `conntrack -L`, and
// installs what peers replicate with `conntrack -I` (or `-U` when the entry exists). An install
// makes the kernel report the flow here too; that echo is recognised and not sent back.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { MessagePort } from 'node:worker_threads';
import { SyncKind, type FromProducer, type SyncRecord, type ToProducer } from '../cluster/sync-contract.js';
import { CtInstaller, type CtInstallCounters } from './ct-installer.js';
import { flowKey, isServiceFlow, parseCtLine, toRecord } from './ct-replica.js';
import type { Runner } from './exec.js';

const PUBLISH_EVERY_MS = 20;
const SNAPSHOT_CHUNK = 2000;
const RESPAWN_MS = 1000;
/** Netlink receive buffer of the event reader, bytes. */
const EVENT_BUFFER = 16 << 20;

export interface CtProducerOptions {
  readonly port: MessagePort;
  /** Service ports "address|protocol|port" (servicePortKey) whose flows are replicated. */
  readonly services: () => ReadonlySet<string>;
  readonly run: Runner;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** The event reader (tests: inside a namespace). */
  readonly spawnEvents?: () => ChildProcess;
}

export interface CtProducerCounters extends CtInstallCounters {
  published: number;
  echoes: number;
}

export class CtProducer {
  private child: ChildProcess | undefined;
  private pending = new Map<string, SyncRecord>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly installer: CtInstaller;
  private stopped = false;
  private readonly own = { published: 0, echoes: 0 };

  constructor(private readonly opts: CtProducerOptions) {
    this.installer = new CtInstaller(opts.run, opts.log);
  }

  get counters(): CtProducerCounters {
    return { ...this.own, ...this.installer.counters };
  }

  /** Keys of the flows peers replicated here (get ct's ORIGIN). */
  installedKeys(): ReadonlySet<string> {
    return new Set(this.installer.installed.keys());
  }

  /** Peers' records waiting to be installed. */
  get installQueue(): number {
    return this.installer.queued;
  }

  start(): void {
    this.opts.port.on('message', (m: ToProducer) => this.onChannel(m));
    this.post({ type: 'hello', kind: SyncKind.Conntrack, version: 1 });
    this.readEvents();
  }

  stop(): void {
    this.stopped = true;
    this.installer.stop();
    if (this.timer) clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
    this.opts.port.close();
  }

  private post(m: FromProducer): void {
    this.opts.port.postMessage(m);
  }

  private readEvents(): void {
    const child =
      this.opts.spawnEvents?.() ??
      // A large socket buffer: a burst of new flows otherwise overflows it (ENOBUFS) and those
      // flows' events are lost (conntrackd grows its buffer for the same reason).
      spawn('conntrack', ['-E', '-o', 'extended', '-e', 'NEW,UPDATE,DESTROY', '-b', String(EVENT_BUFFER)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    this.child = child;
    child.on('error', (e) => this.opts.log('error', `conntrack events: ${e.message}`));
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (l) => this.onLine(l));
    child.on('exit', (code) => {
      if (this.stopped) return;
      // Events lost while it was down are repaired by the peers' periodic re-sync; say so.
      this.opts.log('warn', `conntrack event reader exited (${code}); restarting in ${RESPAWN_MS} ms`);
      setTimeout(() => !this.stopped && this.readEvents(), RESPAWN_MS).unref();
    });
  }

  private onLine(line: string): void {
    const e = parseCtLine(line);
    if (!e || !isServiceFlow(e.flow, this.opts.services())) return;
    const key = flowKey(e.flow);
    if (this.installer.installed.has(key)) {
      if (e.type === 'DESTROY') this.installer.forget(key);
      else if (this.installer.isEcho(e.flow)) {
        this.own.echoes++;
        return;
      }
    }
    this.pending.set(key, toRecord(e));
    this.timer ??= setTimeout(() => this.flush(), PUBLISH_EVERY_MS);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const records = [...this.pending.values()];
    this.pending = new Map();
    this.own.published += records.length;
    this.post({ type: 'publish', kind: SyncKind.Conntrack, records });
  }

  private onChannel(m: ToProducer): void {
    if (m.kind !== SyncKind.Conntrack) return;
    if (m.type === 'apply') this.installer.push(m.records);
    else if (m.type === 'snapshot') void this.snapshot(m.id);
  }

  private async snapshot(id: number): Promise<void> {
    const records: SyncRecord[] = [];
    for (const family of ['ipv4', 'ipv6']) {
      const r = await this.opts.run('conntrack', ['-L', '-f', family, '-o', 'extended']);
      if (r.code !== 0) continue;
      for (const line of r.stdout.split('\n')) {
        const e = parseCtLine(line);
        if (e && isServiceFlow(e.flow, this.opts.services())) records.push(toRecord(e));
      }
    }
    for (let i = 0; i < records.length || i === 0; i += SNAPSHOT_CHUNK) {
      const chunk = records.slice(i, i + SNAPSHOT_CHUNK);
      const done = i + SNAPSHOT_CHUNK >= records.length;
      this.post({ type: 'snapshot', kind: SyncKind.Conntrack, id, records: chunk, done });
    }
  }
}
