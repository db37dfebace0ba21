// Exclusive locks a daemon takes before it touches anything:
// - the state directory: a lock file naming the holder (PID and process start time, so a recycled
//   PID is not mistaken for the holder). A lock whose holder is dead is taken over; only one
//   process at a time may do that (a takeover marker created exclusively).
// - the kernel table of a network namespace: an abstract unix socket ("\0ferrolb-<table>"). Abstract
//   names belong to the network namespace and the kernel releases them when the process dies, so
//   no stale lock can exist. The holder answers connections with its PID, so a refusal names it.
import { createServer, connect, type Server } from 'node:net';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class LockError extends Error {
  constructor(
    message: string,
    /** The holder's PID when known. */
    readonly holder?: number,
  ) {
    super(message);
    this.name = 'LockError';
  }
}

export const STATE_LOCK_FILE = 'ferrolb.lock';
/** A takeover marker older than this was left by a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;

interface Holder {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot); absent where /proc is not readable. */
  readonly started?: string;
}

/** State (field 3) and start time (field 22) of /proc/PID/stat; undefined where /proc is unreadable. */
function procStat(pid: number): { state: string; started: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', started: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.started;
}

function alive(h: Holder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = procStat(h.pid);
  if (!st) return true;
  // A zombie (killed, not yet reaped) or another process that got the PID does not hold the lock.
  if (st.state === 'Z' || st.state === 'X') return false;
  return h.started === undefined || st.started === h.started;
}

export function parseHolder(text: string): Holder | undefined {
  const [pidText, started] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, ...(started ? { started } : {}) };
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** The state directory's lock, held until release() (or the process ends: then it is stale). */
export class StateDirLock {
  private held = false;
  private readonly path: string;
  private readonly me: string;
  private readonly onExit = () => this.releaseSync();

  constructor(readonly dir: string) {
    this.path = join(dir, STATE_LOCK_FILE);
    this.me = `${process.pid} ${processStartTime(process.pid) ?? ''}`.trim() + '\n';
  }

  async acquire(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Written in full under a private name first, then linked: the lock never exists half-written,
    // and link() fails atomically when it does exist.
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, this.me, { mode: 0o644 });
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(tmp, this.path);
          this.held = true;
          process.once('exit', this.onExit);
          return;
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
        }
        const text = await readFile(this.path, 'utf8').catch((e: unknown) => {
          if (errno(e) === 'ENOENT') return undefined;
          throw e;
        });
        if (text === undefined) continue; // released meanwhile: try again
        const holder = parseHolder(text);
        if (holder && holder.pid === process.pid && holder.started === processStartTime(process.pid))
          throw new LockError(`${this.dir} is already locked by this process`, holder.pid);
        if (holder && alive(holder))
          throw new LockError(
            `state directory ${this.dir} is in use by another ferrolb (PID ${holder.pid}); ` +
              `stop it or use another --state-dir`,
            holder.pid,
          );
        await this.takeOver(text);
      }
      throw new LockError(`could not lock ${this.path}: it keeps changing`);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Removes a stale lock (holder dead or unreadable), only if it is still the one we judged stale. */
  private async takeOver(staleText: string): Promise<void> {
    const marker = `${this.path}.takeover`;
    try {
      await writeFile(marker, this.me, { flag: 'wx' });
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      const st = await stat(marker).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await unlink(marker).catch(() => undefined);
      else await new Promise((r) => setTimeout(r, 50));
      return;
    }
    try {
      const now = await readFile(this.path, 'utf8').catch(() => undefined);
      if (now === staleText) await unlink(this.path).catch(() => undefined);
    } finally {
      await unlink(marker).catch(() => undefined);
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    process.off('exit', this.onExit);
    const text = await readFile(this.path, 'utf8').catch(() => undefined);
    if (text === this.me) await unlink(this.path).catch(() => undefined);
  }

  private releaseSync(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (readFileSync(this.path, 'utf8') === this.me) unlinkSync(this.path);
    } catch {
      /* gone already */
    }
  }
}

/** The name of the per-network-namespace lock of nft table `table`. */
export const netnsLockName = (table: string): string => `\0ferrolb-${table}`;

/** Holds the kernel table of this network namespace (an abstract unix socket). */
export class NetnsLock {
  private server: Server | undefined;

  constructor(
    readonly table: string,
    /** What the holder tells a second instance about itself. */
    private readonly describeSelf: () => Record<string, unknown> = () => ({}),
  ) {}

  async acquire(): Promise<void> {
    const name = netnsLockName(this.table);
    const server = createServer({ allowHalfOpen: false }, (sock) => {
      sock.on('error', () => undefined);
      sock.end(JSON.stringify({ pid: process.pid, ...this.describeSelf() }) + '\n');
    });
    server.maxConnections = 8;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: name, exclusive: true }, () => resolve());
      });
    } catch (e) {
      if (errno(e) !== 'EADDRINUSE') throw e;
      const holder = await askHolder(name);
      throw new LockError(
        `the kernel table "${this.table}" of this network namespace is in use by another ferrolb` +
          `${holder?.pid ? ` (PID ${holder.pid})` : ''}; a second instance would reprogram it. ` +
          `Stop the other one, or run this one with --dataplane off or in another network namespace`,
        holder?.pid,
      );
    }
    server.on('error', () => undefined);
    server.unref();
    this.server = server;
  }

  async release(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

async function askHolder(path: string): Promise<{ pid?: number } | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    const sock = connect({ path });
    const done = (v: { pid?: number } | undefined) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(1000, () => done(undefined));
    sock.on('data', (d: Buffer) => (buf += d.toString()));
    sock.on('error', () => done(undefined));
    sock.on('end', () => {
      try {
        done(JSON.parse(buf) as { pid?: number });
      } catch {
        done(undefined);
      }
    });
  });
}
