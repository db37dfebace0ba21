// How the applier runs commands. Production runs them in the host namespace; tests hand in a runner
// that prefixes `ip netns exec NS`, so the same shell code is exercised against a real kernel.
import { spawn, type ChildProcess } from 'node:child_process';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  /** Process id of the command (spawned runners): tells our own nft transactions from others'. */
  readonly pid?: number;
}

export interface RunOptions {
  /** Kill the command after this long (default: the runner's). */
  readonly timeoutMs?: number;
}

/** Runs `cmd args` with optional stdin; resolves with the exit code (never rejects on non-zero). */
export type Runner = (
  cmd: string,
  args: readonly string[],
  input?: string,
  opts?: RunOptions,
) => Promise<RunResult>;

/** A runner that spawns commands behind `prefix` (long-lived children can be started the same way). */
export type SpawnedRunner = Runner & { readonly prefix: readonly string[] };

export class CommandError extends Error {
  /** Exit code and the first 4 KiB of each stream (a failed `nft -j list` can print megabytes). */
  readonly result: RunResult;
  constructor(
    readonly command: string,
    result: RunResult,
  ) {
    super(`${command} exited ${result.code}: ${result.stderr.trim().slice(0, 2000)}`);
    this.name = 'CommandError';
    this.result = {
      code: result.code,
      stdout: result.stdout.slice(0, 4096),
      stderr: result.stderr.slice(0, 4096),
    };
  }
}

/**
 * The command could not be started at all (EMFILE/ENFILE when fds run out, ENOENT, EAGAIN): a
 * rejection of the run, handled like any failed command, never an unhandled 'error' event.
 */
export class SpawnError extends Error {
  constructor(
    readonly command: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot run ${command}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'SpawnError';
  }
}

export function spawnRunner(prefix: readonly string[] = [], defaultTimeoutMs = 120_000): SpawnedRunner {
  const run: Runner = (cmd, args, input, opts) =>
    new Promise((resolve, reject) => {
      const timeoutMs = opts?.timeoutMs ?? defaultTimeoutMs;
      const argv = [...prefix, cmd, ...args];
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        reject(new SpawnError(argv.slice(0, 3).join(' '), (e as NodeJS.ErrnoException)?.code, e));
      };
      let p: ChildProcess;
      try {
        p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
      } catch (e) {
        fail(e);
        return;
      }
      // First the error handler: a failed spawn (EMFILE) emits 'error' and has no stdio streams.
      p.on('error', fail);
      if (!p.stdout || !p.stderr || !p.stdin) return; // 'error' follows and rejects
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on('data', (d: Buffer) => out.push(d));
      p.stderr.on('data', (d: Buffer) => err.push(d));
      p.stdout.on('error', () => undefined);
      p.stderr.on('error', () => undefined);
      p.on('close', (code) => {
        if (settled) return;
        settled = true;
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code: code ?? -1,
          ...(p.pid !== undefined ? { pid: p.pid } : {}),
        });
      });
      p.stdin.on('error', () => undefined);
      p.stdin.end(input ?? '');
    });
  return Object.assign(run, { prefix: [...prefix] });
}

/** The prefix of a spawning runner; undefined for any other (a test's fake, a wrapper). */
export function runnerPrefix(run: Runner): readonly string[] | undefined {
  const p = (run as Partial<SpawnedRunner>).prefix;
  return Array.isArray(p) ? p : undefined;
}

/** Commands in the current (host) namespace. */
export const hostRunner: SpawnedRunner = spawnRunner();

/** Commands inside network namespace `ns` (tests, or an LB living in its own namespace). */
export const netnsRunner = (ns: string): SpawnedRunner => spawnRunner(['ip', 'netns', 'exec', ns]);

/** Runs and throws CommandError on a non-zero exit. */
export async function must(
  run: Runner,
  cmd: string,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new CommandError(`${cmd} ${args.join(' ')}`.slice(0, 200), r);
  return r.stdout;
}
