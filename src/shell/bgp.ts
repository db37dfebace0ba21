// Announces service addresses over BGP: the speaker runs while BGPPeers are configured; its peers
// follow the config and its routes follow allocations and endpoint health (an address is announced
// only while its service has an active endpoint).
import { access, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SpeakerThread } from '../bgp/thread/client.js';
import { peerConfigFromSpec, planRoutes, type BgpStatus, type ServiceAnnouncement } from '../bgp/index.js';
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

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * The speaker (and its BFD) run on worker threads (docs/architecture.md, "Threads"): this shell only
 * plans routes from the snapshot and posts peers and routes to them, coalesced to one post per tick.
 */
export class BgpShell {
  private speaker: SpeakerThread | undefined;
  private starting: Promise<SpeakerThread> | undefined;
  private lastNotes = '';
  private pending: ReturnType<typeof setImmediate> | undefined;
  private stopped = false;
  private readonly onChange = (): void => this.schedule();

  constructor(private readonly opts: BgpShellOptions) {}

  async start(): Promise<void> {
    this.opts.runtime.on('snapshot', this.onChange);
    this.opts.runtime.on('health', this.onChange);
    await this.sync();
  }

  /** Many snapshot/health events in one tick cost one plan and one post. */
  private schedule(): void {
    if (this.pending || this.stopped) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      void this.sync();
    });
  }

  /** One speaker thread for the daemon's life; concurrent callers share its start-up. */
  private ensureSpeaker(): Promise<SpeakerThread> {
    this.starting ??= (async () => {
      const marker = join(this.opts.stateDir, RUNNING_MARKER);
      const restarting = await exists(marker);
      const log = this.opts.log;
      const speaker = new SpeakerThread({
        listen: this.opts.listenPort === false ? false : { port: this.opts.listenPort },
        restarting,
        log: (level, msg) => log[level]({ subsystem: 'bgp' }, msg),
      });
      this.speaker = speaker;
      try {
        await speaker.start();
        this.opts.log.info({ restarting, listen: this.opts.listenPort }, 'bgp speaker started');
      } catch (err) {
        // The thread keeps retrying with backoff; status shows why until it runs.
        this.opts.log.error({ err }, 'bgp speaker start failed; retrying');
      }
      await writeFile(marker, `${process.pid}\n`);
      return speaker;
    })();
    return this.starting;
  }

  /** Converges peers and routes to the current snapshot and health. */
  async sync(): Promise<void> {
    const snap = this.opts.runtime.snapshot;
    const { peers, advertisements, bfdProfiles } = snap.state.bgp;
    if ((peers.length === 0 && !this.starting) || this.stopped) return;
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
      this.opts.log.error({ err }, 'bgp sync failed');
    }
  }

  /** Why the speaker is not running (its start failed and is being retried), or undefined. */
  speakerDown(): string | undefined {
    return this.speaker?.downReason();
  }

  status(): BgpStatus | { sessions: []; routes: [] } {
    return this.speaker?.status() ?? { sessions: [], routes: [] };
  }

  /** Clean stop: sessions closed with a Cease; the marker goes, so the next start is not a GR restart. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending) clearImmediate(this.pending);
    this.opts.runtime.off('snapshot', this.onChange);
    this.opts.runtime.off('health', this.onChange);
    if (!this.starting) return;
    await (await this.starting).close();
    await rm(join(this.opts.stateDir, RUNNING_MARKER), { force: true });
  }
}
