// Announces service addresses over BGP: the speaker runs while BGPPeers are configured; its peers
// follow the config and its routes follow allocations and endpoint health (an address is announced
// only while its service has an active endpoint).
import dgram from 'node:dgram';
import { access, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SpeakerThread } from '../bgp/thread/client.js';
import { peerConfigFromSpec, planRoutes, type BgpStatus, type ServiceAnnouncement } from '../bgp/index.js';
import { formatPrefix } from '../bgp/codec/index.js';
import { advertisedByService, advertisedChanges, type AdvertisedChange } from '../bgp/announced.js';
import { chooseRouterId, routerIdProblem, type NodeAddress } from '../bgp/routerid.js';
import { DEFAULT_VIP_INTERFACE } from '../dataplane/vip.js';
import { tryParseIp } from '../net/ip.js';
import { poolNameOf } from '../model/pools.js';
import type { Snapshot } from '../state/snapshot.js';
import { defaultEndpointState } from '../state/views.js';
import { StartupError, type Runtime } from './runtime.js';

export interface BgpShellOptions {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly stateDir: string;
  /** Port for inbound sessions (179); false: dial out only. */
  readonly listenPort: number | false;
  /**
   * BGP identifier when a BGPPeer sets no routerID; default: derived once from a stable node address
   * and persisted in the state dir (src/bgp/routerid.ts).
   */
  readonly routerId?: string;
  /**
   * The kernel keeps forwarding after a stop (--keep-forwarding): a stop is then a graceful restart,
   * sessions with graceful restart end without a Cease and the routers keep our routes meanwhile.
   */
  readonly keepForwarding?: boolean;
  /** Whether this node may announce a service (Kubernetes externalTrafficPolicy: Local). Default: yes. */
  readonly mayAnnounce?: (service: string) => boolean;
  /** Services whose advertised prefixes changed (for the per-service history in `describe`). */
  readonly onAdvertised?: (changes: readonly AdvertisedChange[]) => void;
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

/** The persisted node BGP identifier (chosen once, kept across restarts and address changes). */
const ROUTER_ID_FILE = 'bgp-router-id';

function nodeAddresses(): NodeAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, list]) =>
    (list ?? []).flatMap((a) =>
      a.family === 'IPv4' ? [{ iface, address: a.address, internal: a.internal }] : [],
    ),
  );
}

/** The source address the kernel picks toward `peer`: a connected UDP socket sends nothing. */
function sourceToward(peer: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v: string | undefined): void => {
      s.close();
      resolve(v);
    };
    s.once('error', () => done(undefined));
    s.connect(179, peer, () => {
      try {
        done(s.address().address);
      } catch {
        done(undefined);
      }
    });
  });
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
  /** The last plan's prefixes (what should be announced) and notes (what is not, and why). */
  private planned: { prefixes: string[]; notes: string[] } = { prefixes: [], notes: [] };
  private pending: ReturnType<typeof setImmediate> | undefined;
  private stopped = false;
  private routerId: string | undefined;
  private identityError: string | undefined;
  private readonly onChange = (): void => this.schedule();

  /** Throws StartupError for an unusable --router-id (0.0.0.0, not dotted-quad IPv4): refused at start. */
  constructor(private readonly opts: BgpShellOptions) {
    const bad = opts.routerId !== undefined ? routerIdProblem(opts.routerId) : undefined;
    if (bad) throw new StartupError(`--router-id: "${opts.routerId}": ${bad}`);
  }

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
      const needsNodeId = peers.some((p) => p.routerID === undefined);
      const routerId = needsNodeId ? await this.nodeRouterId(snap) : undefined;
      // Without a node identifier only the peers that set their own routerID run; status says why.
      const usable = peers.filter((p) => p.routerID !== undefined || routerId !== undefined);
      speaker.setPeers(usable.map((p) => peerConfigFromSpec(p, { routerId: routerId ?? '' }, bfdProfiles)));
      const services = announcements(
        snap,
        (s, a) => this.opts.runtime.endpointState(s, a),
        this.opts.mayAnnounce,
      );
      const plan = planRoutes(
        services,
        advertisements,
        [...snap.state.pools.values()].map((p) => ({ name: p.meta.name, labels: p.meta.labels })),
        peers,
      );
      speaker.setRoutes(plan.routes);
      this.reportAdvertised(services, plan.routes);
      this.planned = { prefixes: plan.routes.map((r) => formatPrefix(r.prefix)), notes: plan.notes };
      const notes = plan.notes.join('; ');
      if (notes !== this.lastNotes && notes) this.opts.log.info({ notes: plan.notes }, 'bgp: not announced');
      this.lastNotes = notes;
    } catch (err) {
      this.opts.log.error({ err }, 'bgp sync failed');
    }
  }

  private advertised = new Map<string, string>();

  private reportAdvertised(
    services: ServiceAnnouncement[],
    routes: Parameters<typeof advertisedByService>[1],
  ): void {
    if (!this.opts.onAdvertised) return;
    const now = advertisedByService(services, routes);
    const changes = advertisedChanges(this.advertised, now);
    this.advertised = now;
    if (changes.length > 0) this.opts.onAdvertised(changes);
  }

  /**
   * The node's BGP identifier, chosen once for the daemon's life: explicit, else persisted, else
   * derived and persisted. Only a failure is retried (on the next sync).
   */
  private async nodeRouterId(snap: Snapshot): Promise<string | undefined> {
    if (this.routerId) return this.routerId;
    const file = join(this.opts.stateDir, ROUTER_ID_FILE);
    const persisted = this.opts.routerId
      ? undefined
      : await readFile(file, 'utf8').then(
          (t) => t.trim() || undefined,
          () => undefined,
        );
    const peers = snap.state.bgp.peers;
    const v4Peers = peers
      .filter((p) => tryParseIp(p.peerAddress)?.family === 4)
      .sort((a, b) => a.name.localeCompare(b.name));
    const toward =
      this.opts.routerId || persisted
        ? []
        : (await Promise.all(v4Peers.map((p) => sourceToward(p.sourceAddress ?? p.peerAddress)))).filter(
            (a): a is string => a !== undefined,
          );
    const choice = chooseRouterId({
      ...(this.opts.routerId ? { explicit: this.opts.routerId } : {}),
      ...(persisted ? { persisted } : {}),
      derive: {
        addresses: nodeAddresses(),
        towardPeers: toward,
        isServiceAddress: (a) => poolNameOf(snap.state.pools.values(), a) !== undefined,
        peerAddresses: new Set(peers.map((p) => p.peerAddress)),
        vipInterface: DEFAULT_VIP_INTERFACE,
      },
    });
    if ('error' in choice) {
      if (this.identityError !== choice.error.message)
        this.opts.log.error(
          { err: choice.error },
          'bgp: no BGP identifier; peers without routerID stay down',
        );
      this.identityError = choice.error.message;
      return undefined;
    }
    if (choice.note) this.opts.log.warn(choice.note);
    if (choice.source === 'derived') {
      const tmp = `${file}.tmp`;
      await writeFile(
        tmp,
        `${choice.routerId}
`,
      );
      await rename(tmp, file);
    }
    this.opts.log.info({ routerId: choice.routerId, source: choice.source }, 'bgp identifier');
    this.identityError = undefined;
    this.routerId = choice.routerId;
    return choice.routerId;
  }

  /** Why the speaker is not running (its start failed and is being retried; no identifier), or undefined. */
  speakerDown(): string | undefined {
    return this.speaker?.downReason() ?? this.identityError;
  }

  /**
   * Sessions and sent routes, with `planned`: every prefix the advertisements want announced (a
   * planned prefix missing from `routes` is not carried by any session yet), and the plan's notes.
   */
  status(): (BgpStatus | { sessions: []; routes: [] }) & { planned: string[]; notes: string[] } {
    return {
      ...(this.speaker?.status() ?? { sessions: [], routes: [] }),
      planned: this.planned.prefixes,
      notes: this.planned.notes,
    };
  }

  /**
   * Stop. With keepForwarding the kernel goes on forwarding, so this is a planned graceful restart
   * (RFC 4724 §4.1): sessions with graceful restart close without a Cease and the marker stays, so
   * the next start claims the restart (R and F bits) and ends it with End-of-RIB; the routers keep our
   * routes throughout. Otherwise a clean stop: Cease, and the marker goes.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending) clearImmediate(this.pending);
    this.opts.runtime.off('snapshot', this.onChange);
    this.opts.runtime.off('health', this.onChange);
    if (!this.starting) return;
    const graceful = this.opts.keepForwarding === true;
    await (await this.starting).close({ graceful });
    if (!graceful) await rm(join(this.opts.stateDir, RUNNING_MARKER), { force: true });
  }
}
