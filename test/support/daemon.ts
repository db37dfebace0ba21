// Starts the real ferrolb daemon binary as a child process on an ephemeral loopback port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../../..');
export const FERROLB = join(REPO, 'bin/ferrolb.js');
export const FERROCTL = join(REPO, 'bin/ferroctl.js');

export interface Daemon {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly logs: string[];
  /** Resolves with the exit code / signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function tempDir(prefix = 'ferrolb-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Starts `ferrolb run`. Unless the caller says otherwise the data plane and the probes are off: a
 * daemon in the host namespace must neither program the host's kernel nor probe addresses that no
 * test namespace owns. `prefix` runs it through another command (e.g. `ip netns exec NS`).
 */
export function startDaemon(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
  prefix: string[] = [],
): Promise<Daemon> {
  return startRole('run', args, env, timeoutMs, prefix);
}

/** Starts `ferrolb agent`: the same defaults and readiness signal as `startDaemon`. */
export function startAgent(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; prefix?: string[] } = {},
): Promise<Daemon> {
  return startRole('agent', args, opts.env ?? {}, opts.timeoutMs ?? 15_000, opts.prefix ?? []);
}

async function startRole(
  role: 'run' | 'agent',
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  prefix: string[],
): Promise<Daemon> {
  const defaults = [
    ...(args.includes('--dataplane') ? [] : ['--dataplane', 'off']),
    ...(args.includes('--probes') ? [] : ['--probes', 'off']),
    ...(args.includes('--api') ? [] : ['--api', '127.0.0.1:0']),
  ];
  const all = [...prefix, process.execPath, FERROLB, role, ...defaults, ...args];
  const proc = spawn(all[0] as string, all.slice(1), {
    env: { ...process.env, FERROLB_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  let buf = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`ferrolb ${role} did not start in ${timeoutMs} ms:\n${logs.join('\n')}`)),
      timeoutMs,
    );
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; api?: string };
          if (j.msg === 'ferrolb running' && j.api) {
            clearTimeout(timer);
            resolveUrl(j.api);
          }
        } catch {
          /* not JSON */
        }
      }
    });
    proc.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
    void exited.then((x) => {
      clearTimeout(timer);
      reject(new Error(`ferrolb ${role} exited early (${JSON.stringify(x)}):\n${logs.join('\n')}`));
    });
  });
  return { proc, url, logs, exited };
}

/**
 * A cluster node with its data plane in a test namespace: `dir/cfg.yaml`, state in `dir/state`,
 * BGP off, the API without a token on `api` (HOST:PORT inside the namespace).
 */
export function startClusterNode(ns: string, dir: string, node: string, api: string): Promise<Daemon> {
  return startDaemon(
    [
      ...['--config', join(dir, 'cfg.yaml'), '--state-dir', join(dir, 'state'), '--node-name', node],
      ...['--api', api, '--insecure-api', '--bgp-port', 'off', '--dataplane', 'on'],
    ],
    {},
    60_000,
    ['ip', 'netns', 'exec', ns],
  );
}

export async function stopDaemon(
  d: Daemon,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill(signal);
  return d.exited;
}

/** Runs fn against a daemon started with args and its own state directory; both gone afterwards. */
export async function withDaemon(
  args: string[],
  fn: (d: Daemon, dir: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  const d = await startDaemon([...args, '--state-dir', dir.path]);
  try {
    await fn(d, dir.path);
  } finally {
    await stopDaemon(d, 'SIGKILL');
    dir.remove();
  }
}

/** Runs ferroctl synchronously against a daemon. */
export function ferroctl(
  url: string,
  args: string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FERROCTL, '--server', url, ...args], {
    encoding: 'utf8',
    input,
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function api<T = unknown>(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, url), {
    method,
    headers: {
      ...(body !== undefined
        ? { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json' }
        : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
