// How the demo prints: a bold title per step, and ferroctl run in a namespace with its output shown.
import { spawnSync } from 'node:child_process';
import { FERROCTL, type Daemon } from '../../test/support/daemon.js';

export const step = (title: string): void => console.log(`\n\x1b[1m== ${title}\x1b[0m`);

/** `ferroctl ARGS` against the daemon, run inside namespace `ns`; prints and returns its output. */
export function ctlIn(ns: string, d: Daemon, args: readonly string[], show = true): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, FERROCTL, '--server', d.url, ...args], {
    encoding: 'utf8',
  });
  if (show) process.stdout.write(`$ ferroctl ${args.join(' ')}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
