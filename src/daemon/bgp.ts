// Announces service addresses over BGP: the speaker runs while BGPPeers are configured; its peers
// follow the config and its routes follow allocations and endpoint health (an address is announced
// only while its service has an active endpoint).
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  BgpSpeaker,
  peerConfigFromSpec,
  planRoutes,
  type BgpStatus,
  type ServiceAnnouncement,
} from '../bgp/index.js';
import { poolNameOf } from '../model/pools.js';
import type { Snapshot } from '../state/snapshot.js';
import { defaultEndpointState } from '../state/views.js';
import type { Runtime } from './runtime.js';

export interface BgpShellOptions {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly stateDir: string;
  /** Port for inbound sessions (179); false: dial out only. */
  readonly listenPort: number | false;
  /** BGP identifier when a BGPPeer sets no routerID; default: the first non-loopback IPv4 address. */
  readonly routerId?: string;
  /** Whether this node may announce a service (Kubernetes externalTrafficPolicy: Local). Default: yes. */
  readonly mayAnnounce?: (service: string) => boolean;
  /** A sync failed after start (e.g. the speaker could not start for newly added peers). */
  readonly onError?: (err: unknown) => void;
}

/** Marker present while the daemon runs: found at start, it means we crashed and restart under GR. */
const RUNNING_MARKER = 'bgp.running';

export function announcements(
  snap: Snapshot,
  health: (svc: string, addr: string) => string | undefined,
  mayAnnounce: (service: string) => boolean = () => true,
): ServiceAnnouncement[] {
  const poolOf = (a: string) => poolNameOf(snap.state.pools.values(), a) ?? '';
  const out: ServiceAnnouncement[] = [];
  for (const lb of snap.state.loadBalancers.values()) {
    const alloc = snap.allocations.get(lb.meta.name);
    if (!alloc || snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !mayAnnounce(lb.meta.name))
      continue;
    out.push({
      service: lb.meta.name,
      addresses: [
        ...alloc.addresses.map((address) => ({ address, pool: poolOf(address) })),
        ...alloc.secondaryAddresses.map((address) => ({ address, pool: poolOf(address), secondary: true })),
      ],
      activeEndpoints: lb.endpoints.filter(
        (e) => (health(lb.meta.name, e.address) ?? defaultEndpointState(lb)) === 'active',
      ).length,
    });
  }
  return out;
}

function defaultRouterId(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export class BgpShell {
  private speaker: BgpSpeaker | undefined;
  private starting: Promise<BgpSpeaker> | undefined;
  private lastNotes = '';

  constructor(private readonly opts: BgpShellOptions) {}

  private readonly onChange = () => void this.sync();

  /** Throws when BGP peers are configured and the speaker cannot start (the supervisor retries). */
  async start(): Promise<void> {
    this.opts.runtime.on('snapshot', this.onChange);
    this.opts.runtime.on('health', this.onChange);
    await this.sync(true);
  }

  /**
   * One speaker for the shell's life; concurrent callers share its start-up. A failed start is not
   * kept: the next sync tries again.
   */
  private ensureSpeaker(): Promise<BgpSpeaker> {
    this.starting ??= (async () => {
      const marker = join(this.opts.stateDir, RUNNING_MARKER);
      const restarting = existsSync(marker);
      const speaker = new BgpSpeaker({
        listen: this.opts.listenPort === false ? false : { port: this.opts.listenPort },
        restarting,
        log: (msg) => this.opts.log.info({ subsystem: 'bgp' }, msg),
      });
      await speaker.start();
      await writeFile(marker, `${process.pid}\n`);
      this.opts.log.info({ restarting, listen: this.opts.listenPort }, 'bgp speaker started');
      this.speaker = speaker;
      return speaker;
    })();
    const p = this.starting;
    p.catch(() => {
      if (this.starting === p) this.starting = undefined;
    });
    return p;
  }

  /** Converges peers and routes to the current snapshot and health. */
  async sync(throwOnError = false): Promise<void> {
    const snap = this.opts.runtime.snapshot;
    const { peers, advertisements, bfdProfiles } = snap.state.bgp;
    if (peers.length === 0 && !this.starting) return;
    try {
      const speaker = await this.ensureSpeaker();
      const routerId = this.opts.routerId ?? defaultRouterId() ?? '0.0.0.1';
      speaker.setPeers(peers.map((p) => peerConfigFromSpec(p, { routerId }, bfdProfiles)));
      const plan = planRoutes(
        announcements(snap, (s, a) => this.opts.runtime.endpointState(s, a), this.opts.mayAnnounce),
        advertisements,
        [...snap.state.pools.values()].map((p) => ({ name: p.meta.name, labels: p.meta.labels })),
        peers,
      );
      speaker.setRoutes(plan.routes);
      const notes = plan.notes.join('; ');
      if (notes !== this.lastNotes && notes) this.opts.log.info({ notes: plan.notes }, 'bgp: not announced');
      this.lastNotes = notes;
    } catch (err) {
      if (throwOnError) throw err;
      this.opts.log.error({ err }, 'bgp sync failed');
      this.opts.onError?.(err);
    }
  }

  status(): BgpStatus | { sessions: []; routes: [] } {
    return this.speaker?.status() ?? { sessions: [], routes: [] };
  }

  /** Clean stop: sessions closed with a Cease; the marker goes, so the next start is not a GR restart. */
  async stop(): Promise<void> {
    this.opts.runtime.off('snapshot', this.onChange);
    this.opts.runtime.off('health', this.onChange);
    const speaker = await this.starting?.catch(() => undefined);
    this.starting = undefined;
    this.speaker = undefined;
    if (!speaker) return;
    await speaker.close();
    await rm(join(this.opts.stateDir, RUNNING_MARKER), { force: true });
  }
}
