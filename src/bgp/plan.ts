// Announcement planning, pure: which prefixes to announce to which peers with which attributes,
// from the allocated service addresses, their endpoint health and the BGPAdvertisements.
//  - An address is announced while it is allocated and its service has ≥1 active endpoint.
//  - Secondary (SCTP multihoming) addresses are announced like primaries, and may carry their own
//    attributes (per-instance priority: MED / LOCAL_PREF / AS-path prepend).
//  - aggregationLength(V6) turns addresses into covering prefixes; services that share one prefix
//    share one route, which stays while any of them is announceable.
import { parseIp } from '../net/ip.js';
import { anySelectorMatches } from '../model/labels.js';
import { prefixKey, type LargeCommunity, type Prefix } from './codec/index.js';
import type { BfdProfileSpec, BgpAdvertisementSpec, BgpPeerSpec } from '../model/bgp.js';
import type { AdvertisedRoute } from './ribout.js';
import type { PeerConfig } from './types.js';

export interface AddressAttributes {
  readonly localPref?: number;
  readonly med?: number;
  readonly asPathPrepend?: number;
}

export interface ServiceAddress {
  readonly address: string;
  /** Pool the address was allocated from. */
  readonly pool: string;
  readonly secondary?: boolean;
  /** Overrides the advertisement's attributes for this address (e.g. HA priority). */
  readonly attributes?: AddressAttributes;
}

export interface ServiceAnnouncement {
  /** "namespace/name" or the LoadBalancer name; used only in plan notes. */
  readonly service: string;
  readonly addresses: readonly ServiceAddress[];
  readonly activeEndpoints: number;
}

export interface PoolLabels {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface RoutePlan {
  readonly routes: AdvertisedRoute[];
  /** Why something was not announced or was merged with a conflict, for status and events. */
  readonly notes: string[];
}

const matchesPool = (a: BgpAdvertisementSpec, pool: PoolLabels | undefined, poolName: string): boolean => {
  // MetalLB semantics: no pool list and no selectors means every pool.
  if (a.ipAddressPools.length === 0 && a.ipAddressPoolSelectors.length === 0) return true;
  if (a.ipAddressPools.includes(poolName)) return true;
  return (
    a.ipAddressPoolSelectors.length > 0 &&
    pool !== undefined &&
    anySelectorMatches(a.ipAddressPoolSelectors, pool.labels)
  );
};

function aggregate(address: string, a: BgpAdvertisementSpec): Prefix {
  const ip = parseIp(address);
  const len = ip.family === 4 ? a.aggregationLength : a.aggregationLengthV6;
  const width = ip.family === 4 ? 32 : 128;
  const host = BigInt(width - len);
  return { family: ip.family, addr: (ip.value >> host) << host, len };
}

interface Acc {
  prefix: Prefix;
  peers: readonly string[] | undefined;
  localPref?: number;
  med?: number;
  asPathPrepend?: number;
  communities: Set<number>;
  large: Map<string, LargeCommunity>;
  from: string;
}

/**
 * Plans the routes. `peers` (optional) limits which peer names exist; advertisements listing no
 * peers apply to all of them.
 */
export function planRoutes(
  services: readonly ServiceAnnouncement[],
  advertisements: readonly BgpAdvertisementSpec[],
  pools: readonly PoolLabels[] = [],
  peers?: readonly BgpPeerSpec[],
): RoutePlan {
  const notes: string[] = [];
  const byPool = new Map(pools.map((p) => [p.name, p]));
  const acc = new Map<string, Acc>();
  const advs = [...advertisements].sort((x, y) => x.name.localeCompare(y.name));
  const known = peers ? new Set(peers.map((p) => p.name)) : undefined;
  for (const svc of [...services].sort((x, y) => x.service.localeCompare(y.service))) {
    if (svc.activeEndpoints <= 0) {
      notes.push(`${svc.service}: not announced, no active endpoint`);
      continue;
    }
    for (const addr of svc.addresses) {
      const matching = advs.filter((a) => matchesPool(a, byPool.get(addr.pool), addr.pool));
      if (matching.length === 0) {
        notes.push(`${svc.service}: ${addr.address} (pool ${addr.pool}) matches no BGPAdvertisement`);
        continue;
      }
      for (const a of matching) {
        const prefix = aggregate(addr.address, a);
        const peerList = a.peers.length > 0 ? [...a.peers].sort() : undefined;
        if (peerList && known && peerList.every((p) => !known.has(p))) continue;
        const key = `${prefixKey(prefix)}|${peerList?.join(',') ?? '*'}`;
        const attrs = {
          localPref: a.localPref,
          med: a.med,
          asPathPrepend: a.asPathPrepend || undefined,
          ...addr.attributes,
        };
        const cur = acc.get(key);
        if (!cur) {
          acc.set(key, {
            prefix,
            peers: peerList,
            ...(attrs.localPref !== undefined ? { localPref: attrs.localPref } : {}),
            ...(attrs.med !== undefined ? { med: attrs.med } : {}),
            ...(attrs.asPathPrepend !== undefined ? { asPathPrepend: attrs.asPathPrepend } : {}),
            communities: new Set(a.communities),
            large: new Map(a.largeCommunities.map((l) => [`${l.global}:${l.local1}:${l.local2}`, l])),
            from: `${svc.service}/${a.name}`,
          });
          continue;
        }
        // Several services or advertisements behind one prefix: communities add up; for scalar
        // attributes the first (by name) wins and the conflict is reported rather than flapping.
        for (const c of a.communities) cur.communities.add(c);
        for (const l of a.largeCommunities) cur.large.set(`${l.global}:${l.local1}:${l.local2}`, l);
        for (const f of ['localPref', 'med', 'asPathPrepend'] as const) {
          const v = attrs[f];
          if (v === undefined) continue;
          if (cur[f] === undefined) cur[f] = v;
          else if (cur[f] !== v)
            notes.push(
              `${prefixKey(prefix)}: ${f} ${v} from ${svc.service}/${a.name} conflicts with ${cur[f]} from ${cur.from}; keeping ${cur[f]}`,
            );
        }
      }
    }
  }
  const routes: AdvertisedRoute[] = [...acc.values()].map((x) => ({
    prefix: x.prefix,
    ...(x.localPref !== undefined ? { localPref: x.localPref } : {}),
    ...(x.med !== undefined ? { med: x.med } : {}),
    ...(x.asPathPrepend !== undefined ? { asPathPrepend: x.asPathPrepend } : {}),
    ...(x.communities.size > 0 ? { communities: [...x.communities].sort((p, q) => p - q) } : {}),
    ...(x.large.size > 0 ? { largeCommunities: [...x.large.values()] } : {}),
    ...(x.peers ? { peers: x.peers } : {}),
  }));
  routes.sort((p, q) => prefixKey(p.prefix).localeCompare(prefixKey(q.prefix)));
  return { routes, notes };
}

export interface PeerDefaults {
  /** BGP identifier when the BGPPeer sets no routerID (typically the node's IPv4 address). */
  readonly routerId: string;
  readonly nextHopV4?: string;
  readonly nextHopV6?: string;
  /** Graceful-restart time announced when enableGracefulRestart is set (RFC 4724 suggests ≤ hold). */
  readonly restartTimeSec?: number;
}

/** Turns a validated BGPPeer (and its BFDProfile, if any) into the speaker's session configuration. */
export function peerConfigFromSpec(
  p: BgpPeerSpec,
  d: PeerDefaults,
  bfdProfiles: readonly BfdProfileSpec[] = [],
): PeerConfig {
  const bfd = p.bfdProfile ? bfdProfiles.find((b) => b.name === p.bfdProfile) : undefined;
  return {
    ...(bfd
      ? {
          bfd: {
            desiredMinTxMs: bfd.transmitIntervalMs,
            requiredMinRxMs: bfd.receiveIntervalMs,
            detectMult: bfd.detectMultiplier,
            passive: bfd.passiveMode,
          },
        }
      : {}),
    name: p.name,
    peerAddress: p.peerAddress,
    peerPort: p.peerPort,
    ...(p.sourceAddress ? { sourceAddress: p.sourceAddress } : {}),
    localAsn: p.myASN,
    peerAsn: p.peerASN,
    routerId: p.routerID ?? d.routerId,
    holdTimeSec: p.holdTimeSec,
    ...(p.keepaliveSec !== undefined ? { keepaliveSec: p.keepaliveSec } : {}),
    ...(p.connectTimeMs !== undefined ? { connectTimeMs: p.connectTimeMs } : {}),
    passive: p.passive,
    ...(p.enableGracefulRestart ? { gracefulRestart: { restartTimeSec: d.restartTimeSec ?? 120 } } : {}),
    // The BGPPeer's own next hops win over the node defaults.
    ...((p.nextHopV4 ?? d.nextHopV4) ? { nextHopV4: p.nextHopV4 ?? d.nextHopV4 } : {}),
    ...((p.nextHopV6 ?? d.nextHopV6) ? { nextHopV6: p.nextHopV6 ?? d.nextHopV6 } : {}),
  };
}
