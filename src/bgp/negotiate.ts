// What a session may do once both OPENs are known: hold/keepalive times, 4-octet AS, address families,
// ADD-PATH directions, route refresh and the peer's graceful-restart promise. Pure.
import type { AfiSafi, Capability, OpenMessage } from './codec/index.js';
import { AFI, SAFI } from './codec/index.js';
import type { AfiSafiKey } from './codec/index.js';

export interface LocalSessionParams {
  readonly localAsn: number;
  readonly routerId: number;
  readonly holdTimeSec: number;
  /** Configured keepalive; default hold/3. */
  readonly keepaliveSec?: number;
  readonly families: readonly AfiSafi[];
  readonly gracefulRestart?: { readonly restartTimeSec: number; readonly restarting: boolean };
  /** Offer to send several paths per prefix (RFC 7911). */
  readonly addPathSend?: boolean;
}

export interface Negotiated {
  readonly peerAsn: number;
  readonly peerBgpId: number;
  readonly holdMs: number;
  readonly keepaliveMs: number;
  readonly fourOctetAs: boolean;
  readonly families: readonly AfiSafiKey[];
  readonly addPathSend: readonly AfiSafiKey[];
  readonly addPathReceive: readonly AfiSafiKey[];
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  readonly peerGracefulRestart?: Extract<Capability, { kind: 'graceful-restart' }>;
}

const key = (f: AfiSafi): AfiSafiKey => `${f.afi}/${f.safi}`;

export function localCapabilities(p: LocalSessionParams): Capability[] {
  const caps: Capability[] = p.families.map((f) => ({ kind: 'multiprotocol', afi: f.afi, safi: f.safi }));
  caps.push(
    { kind: 'route-refresh' },
    { kind: 'enhanced-route-refresh' },
    { kind: 'four-octet-as', asn: p.localAsn },
  );
  if (p.gracefulRestart) {
    caps.push({
      kind: 'graceful-restart',
      restarting: p.gracefulRestart.restarting,
      notification: false,
      restartTimeSec: p.gracefulRestart.restartTimeSec,
      // The kernel data plane keeps forwarding while the daemon restarts (architecture principle 4).
      families: p.families.map((f) => ({
        ...f,
        forwardingPreserved: p.gracefulRestart?.restarting ?? false,
      })),
    });
  }
  if (p.addPathSend)
    caps.push({ kind: 'add-path', families: p.families.map((f) => ({ ...f, mode: 'send' as const })) });
  return caps;
}

export function localOpen(p: LocalSessionParams): OpenMessage {
  return {
    type: 'open',
    version: 4,
    asn: p.localAsn,
    holdTimeSec: p.holdTimeSec,
    bgpId: p.routerId,
    capabilities: localCapabilities(p),
  };
}

export function negotiate(p: LocalSessionParams, peer: OpenMessage): Negotiated {
  const peerMp = peer.capabilities.flatMap((c) => (c.kind === 'multiprotocol' ? [key(c)] : []));
  // RFC 4760: a peer that advertises no multiprotocol capability speaks IPv4 unicast only.
  const peerFamilies = new Set(peerMp.length > 0 ? peerMp : [key({ afi: AFI.IPv4, safi: SAFI.Unicast })]);
  const families = p.families.map(key).filter((k) => peerFamilies.has(k));
  const holdSec = Math.min(p.holdTimeSec, peer.holdTimeSec);
  const keepSec =
    holdSec === 0
      ? 0
      : p.keepaliveSec !== undefined && p.keepaliveSec > 0 && p.keepaliveSec <= holdSec
        ? p.keepaliveSec
        : holdSec / 3;
  const peerAddPath = peer.capabilities.flatMap((c) => (c.kind === 'add-path' ? c.families : []));
  const addPathSend = p.addPathSend
    ? families.filter((k) =>
        peerAddPath.some((f) => key(f) === k && (f.mode === 'receive' || f.mode === 'both')),
      )
    : [];
  const gr = peer.capabilities.find((c) => c.kind === 'graceful-restart');
  return {
    peerAsn: peer.asn,
    peerBgpId: peer.bgpId,
    holdMs: holdSec * 1000,
    keepaliveMs: Math.round(keepSec * 1000),
    fourOctetAs: peer.capabilities.some((c) => c.kind === 'four-octet-as'),
    families,
    addPathSend,
    // We never offer to receive multiple paths, so the peer never sends path identifiers.
    addPathReceive: [],
    routeRefresh: peer.capabilities.some((c) => c.kind === 'route-refresh'),
    enhancedRouteRefresh: peer.capabilities.some((c) => c.kind === 'enhanced-route-refresh'),
    ...(gr && gr.kind === 'graceful-restart' ? { peerGracefulRestart: gr } : {}),
  };
}
