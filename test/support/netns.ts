// Test hosts in network namespaces. Every namespace and process made here is registered and torn down
// by `cleanup()` (call it from `after`/`t.after`), pass or fail. Traffic only ever goes to addresses
// inside namespaces the test made.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const execFileP = promisify(execFile);

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * E2E tests need root. Outside CI they skip with a reason; under CI (CI=true, run as root) a missing
 * capability is a failure, never a silent skip.
 */
export function e2eSkipReason(): string | undefined {
  if (isRoot()) return undefined;
  if (process.env.CI) throw new Error('e2e tests must run as root in CI');
  return 'needs root (network namespaces); CI runs it as root';
}

export async function sh(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 << 20 });
  return stdout;
}

/** Runs a command inside namespace `ns`. */
export const nsExec = (ns: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}) =>
  sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);

/** The host namespace as one end of `Topology.link`. A symbol, so no string can mean it by accident. */
export const HOST: unique symbol = Symbol('host namespace');
export type End = string | typeof HOST;

export class Topology {
  /** Short unique prefix so parallel/leftover runs never collide (interface names ≤ 15 chars). */
  readonly id = randomBytes(3).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  /** Our veth ends in the host namespace (names start with v<id>, so they are never anyone else's). */
  private readonly hostDevs: string[] = [];

  ns(role: string): string {
    return `fl${this.id}${role}`;
  }

  async addNs(role: string): Promise<string> {
    const name = this.ns(role);
    await sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await nsExec(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * veth pair between two namespaces with addresses (CIDR form, e.g. 10.201.1.2/24). One end may be
   * `HOST` (the host namespace, e.g. a management link to a server the test runs in-process); that end
   * goes away with the namespace at the other end, and cleanup() deletes it as well in case it did not.
   */
  async link(a: End, aAddr: string[], b: End, bAddr: string[]): Promise<{ aDev: string; bDev: string }> {
    if (a === HOST && b === HOST) throw new Error('a link needs at least one namespace of its own');
    const n = this.links++;
    const aDev = `v${this.id}a${n}`;
    const bDev = `v${this.id}b${n}`;
    const where = (ns: End) => (ns === HOST ? [] : ['netns', ns]);
    if (a === HOST) this.hostDevs.push(aDev);
    if (b === HOST) this.hostDevs.push(bDev);
    await sh('ip', ['link', 'add', aDev, ...where(a), 'type', 'veth', 'peer', 'name', bDev, ...where(b)]);
    for (const [ns, dev, addrs] of [
      [a, aDev, aAddr],
      [b, bDev, bAddr],
    ] as const) {
      const ip = (args: string[]) => (ns === HOST ? sh('ip', args) : nsExec(ns, 'ip', args));
      for (const addr of addrs) {
        await ip(['addr', 'add', addr, 'dev', dev, ...(addr.includes(':') ? ['nodad'] : [])]);
      }
      await ip(['link', 'set', dev, 'up']);
    }
    return { aDev, bDev };
  }
  private links = 0;

  /** Starts a long-running process in a namespace; killed (by PID) in cleanup. */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGKILL');
        await new Promise((r) => p.once('exit', r));
      }
    }
    for (const ns of this.namespaces.reverse()) {
      await sh('ip', ['netns', 'pids', ns])
        .then(async (out) => {
          for (const pid of out.split('\n').filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              /* already gone */
            }
          }
        })
        .catch(() => undefined);
      await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    for (const dev of this.hostDevs) {
      const left = await sh('ip', ['-o', 'link', 'show', 'dev', dev]).catch(() => '');
      if (left) await sh('ip', ['link', 'del', 'dev', dev]).catch(() => undefined);
    }
  }
}

/** Polls `check` until it returns a value (not undefined) or the bounded time runs out. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  stepMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`,
  );
}
