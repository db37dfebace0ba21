// Kernel conntrack replication, the shell: reads this node's conntrack events (one long-running
// `conntrack -E -o extended` child, never a sync spawn), publishes the flows of ferrolb's services to
// the Cluster's sync channel (sync-contract.ts), answers full-state pulls from `conntrack -L`, and
// installs what peers replicate with `conntrack -I` (or `-U` when the entry exists). An install
// makes the kernel report the flow here too; that echo is recognised and not sent back.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { MessagePort } from 'node:worker_threads';
import { SyncKind, type FromProducer, type SyncRecord, type ToProducer } from '../cluster/sync-contract.js';
import {
  deleteArgs,
  flowKey,
  fromRecord,
  installArgs,
  isServiceFlow,
  parseCtLine,
  toRecord,
  type CtFlow,
} from './ct-replica.js';
import type { Runner } from './exec.js';

const PUBLISH_EVERY_MS = 20;
const SNAPSHOT_CHUNK = 2000;
const RESPAWN_MS = 1000;
/** Installs waiting; beyond it the oldest are dropped and counted (the next pull repairs them). */
const MAX_INSTALLS = 100_000;

export interface CtProducerOptions {
  readonly port: MessagePort;
  /** Service ports "address|protocol|port" (servicePortKey) whose flows are replicated. */
  readonly services: () => ReadonlySet<string>;
  readonly run: Runner;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** The event reader (tests: inside a namespace). */
  readonly spawnEvents?: () => ChildProcess;
}

export interface CtProducerCounters {
  published: number;
  installed: number;
  installFailures: number;
  deleted: number;
  echoes: number;
  dropped: number;
}

/** What an install will make the kernel report back: the flow without its countdown. */
const echoOf = (f: CtFlow): string => JSON.stringify({ ...f, timeout: 0 });

export class CtProducer {
  private child: ChildProcess | undefined;
  private pending = new Map<string, SyncRecord>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly installed = new Map<string, string>();
  private installs: SyncRecord[] = [];
  private installing = false;
  private stopped = false;
  readonly counters: CtProducerCounters = {
    published: 0,
    installed: 0,
    installFailures: 0,
    deleted: 0,
    echoes: 0,
    dropped: 0,
  };

  constructor(private readonly opts: CtProducerOptions) {}

  start(): void {
    this.opts.port.on('message', (m: ToProducer) => this.onChannel(m));
    this.post({ type: 'hello', kind: SyncKind.Conntrack, version: 1 });
    this.readEvents();
  }

  stop(): void {
    this.stopped = true;
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
      spawn('conntrack', ['-E', '-o', 'extended', '-e', 'NEW,UPDATE,DESTROY'], {
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
    const mine = this.installed.get(key);
    if (mine !== undefined) {
      if (e.type === 'DESTROY') this.installed.delete(key);
      else if (mine === echoOf(e.flow)) {
        this.counters.echoes++;
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
    this.counters.published += records.length;
    this.post({ type: 'publish', kind: SyncKind.Conntrack, records });
  }

  private onChannel(m: ToProducer): void {
    if (m.kind !== SyncKind.Conntrack) return;
    if (m.type === 'apply') {
      this.installs.push(...m.records);
      if (this.installs.length > MAX_INSTALLS) {
        this.counters.dropped += this.installs.length - MAX_INSTALLS;
        this.installs = this.installs.slice(-MAX_INSTALLS);
      }
      void this.drainInstalls();
    } else if (m.type === 'snapshot') void this.snapshot(m.id);
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

  /** One at a time, in order (a delete after an insert of the same key must come after it). */
  private async drainInstalls(): Promise<void> {
    if (this.installing) return;
    this.installing = true;
    try {
      for (let r = this.installs.shift(); r && !this.stopped; r = this.installs.shift())
        await this.install(r);
    } finally {
      this.installing = false;
    }
  }

  private async install(r: SyncRecord): Promise<void> {
    if (r.deleted) {
      const args = deleteArgs(r.key);
      this.installed.delete(r.key);
      if (args && (await this.opts.run('conntrack', args)).code === 0) this.counters.deleted++;
      return;
    }
    let f: CtFlow;
    try {
      f = fromRecord(r);
    } catch (e) {
      this.counters.installFailures++;
      this.opts.log('warn', (e as Error).message);
      return;
    }
    this.installed.set(r.key, echoOf(f));
    let res = await this.opts.run('conntrack', installArgs(f, '-I'));
    if (res.code !== 0) res = await this.opts.run('conntrack', installArgs(f, '-U'));
    if (res.code === 0) this.counters.installed++;
    else {
      this.counters.installFailures++;
      if (this.counters.installFailures % 100 === 1)
        this.opts.log('warn', `conntrack install ${r.key}: ${res.stderr.trim().slice(0, 200)}`);
    }
  }
}
