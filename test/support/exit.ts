// Runs one of the project's binaries to its exit and collects its output (start-up checks, usage
// errors): bounded by a timeout so a binary that hangs fails the test instead of stalling it.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../../..');
export const BIN = { ferrolb: join(REPO, 'bin/ferrolb.js'), ferroctl: join(REPO, 'bin/ferroctl.js') };

export interface Exit {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

export function runToExit(
  bin: keyof typeof BIN,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<Exit> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN[bin], ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      timeout: timeoutMs,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('exit', (code) => res({ code, out, err }));
  });
}
