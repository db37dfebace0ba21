// How the applier runs commands. Production runs them in the host namespace; tests hand in a runner
// that prefixes `ip netns exec NS`, so the same shell code is exercised against a real kernel.
import { spawn } from 'node:child_process';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  /** Process id of the command (spawned runners): tells our own nft transactions from others'. */
  readonly pid?: number;
}

/** Runs `cmd args` with optional stdin; resolves with the exit code (never rejects on non-zero). */
export type Runner = (cmd: string, args: readonly string[], input?: string) => Promise<RunResult>;

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

export function spawnRunner(prefix: readonly string[] = [], timeoutMs = 120_000): Runner {
  return (cmd, args, input) =>
    new Promise((resolve, reject) => {
      const argv = [...prefix, cmd, ...args];
      const p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on('data', (d: Buffer) => out.push(d));
      p.stderr.on('data', (d: Buffer) => err.push(d));
      p.on('error', reject);
      p.on('close', (code) =>
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code: code ?? -1,
          ...(p.pid !== undefined ? { pid: p.pid } : {}),
        }),
      );
      p.stdin.on('error', () => undefined);
      p.stdin.end(input ?? '');
    });
}

/** Commands in the current (host) namespace. */
export const hostRunner: Runner = spawnRunner();

/** Commands inside network namespace `ns` (tests, or an LB living in its own namespace). */
export const netnsRunner = (ns: string): Runner => spawnRunner(['ip', 'netns', 'exec', ns]);

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
