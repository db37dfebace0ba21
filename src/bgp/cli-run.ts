// A standalone speaker process driven by JSON lines on stdin, used by the end-to-end tests and the
// benchmark (a Node process cannot enter another network namespace, so each speaker runs as a child
// under `ip netns exec`). It is also the smallest example of wiring the speaker.
//
//   start:   node dist/src/bgp/cli-run.js '<json SpeakerRunConfig>'
//   stdin:   {"routes":[RouteJson...]}  → setRoutes
//            {"status":true}            → prints {"status":BgpStatus} on stdout
//   stdout:  {"ready":true,"port":N} once listening, then status replies.
import { createInterface } from 'node:readline';
import { parseIp } from '../net/ip.js';
import { parsePrefix } from './codec/index.js';
import type { AdvertisedRoute } from './ribout.js';
import { BgpSpeaker } from './speaker.js';
import type { PeerConfig } from './types.js';

export interface RouteJson {
  readonly prefix: string;
  readonly localPref?: number;
  readonly med?: number;
  /** "65000:1" or numeric */
  readonly communities?: readonly (string | number)[];
  /** "a:b:c" */
  readonly largeCommunities?: readonly string[];
  readonly asPathPrepend?: number;
  readonly nextHop?: string;
  readonly peers?: readonly string[];
}

export interface SpeakerRunConfig {
  readonly peers: readonly PeerConfig[];
  readonly routes?: readonly RouteJson[];
  readonly listen?: false | { readonly port?: number; readonly host?: string };
  readonly restarting?: boolean;
}

export function routeFromJson(r: RouteJson): AdvertisedRoute {
  const community = (c: string | number): number => {
    if (typeof c === 'number') return c >>> 0;
    const [a, b] = c.split(':').map(Number);
    return ((a ?? 0) * 65536 + (b ?? 0)) >>> 0;
  };
  return {
    prefix: parsePrefix(r.prefix),
    ...(r.localPref !== undefined ? { localPref: r.localPref } : {}),
    ...(r.med !== undefined ? { med: r.med } : {}),
    ...(r.communities ? { communities: r.communities.map(community) } : {}),
    ...(r.largeCommunities
      ? {
          largeCommunities: r.largeCommunities.map((l) => {
            const [global, local1, local2] = l.split(':').map(Number);
            return { global: global ?? 0, local1: local1 ?? 0, local2: local2 ?? 0 };
          }),
        }
      : {}),
    ...(r.asPathPrepend !== undefined ? { asPathPrepend: r.asPathPrepend } : {}),
    ...(r.nextHop !== undefined ? { nextHop: parseIp(r.nextHop).value } : {}),
    ...(r.peers ? { peers: r.peers } : {}),
  };
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as SpeakerRunConfig;
  const speaker = new BgpSpeaker({
    listen: cfg.listen ?? false,
    restarting: cfg.restarting ?? false,
    log: (m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`),
  });
  const port = await speaker.start();
  speaker.setRoutes((cfg.routes ?? []).map(routeFromJson));
  speaker.setPeers(cfg.peers);
  const out = (o: unknown): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  out({ ready: true, port });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as { routes?: RouteJson[]; status?: boolean; id?: number };
    if (cmd.routes) speaker.setRoutes(cmd.routes.map(routeFromJson));
    if (cmd.status) out({ id: cmd.id, status: speaker.status() });
    else out({ id: cmd.id, ok: true });
  });
  rl.on('close', () => void speaker.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => void speaker.close().then(() => process.exit(0)));
}

if (process.argv[1]?.endsWith('cli-run.js')) void main();
