// Where a service address is announced, from the API's BGP and L2 status: for `describe lb` and for
// `apply --wait`. Pure.
import { parseRange, rangeContains, tryParseIp } from '../net/ip.js';
import type { BgpStatus } from '../bgp/types.js';
import type { L2View } from '../l2/view.js';

/** GET /bgp: sessions and sent routes, with the planned prefixes and the plan's notes. */
export type BgpAnswer = BgpStatus & { planned?: readonly string[]; notes?: readonly string[] };

export interface Announcement {
  readonly address: string;
  /** BGP: planned (the advertisements select it), and the prefix and peers it is sent to. */
  readonly bgp?: { readonly prefix: string; readonly peers: readonly string[] };
  /** L2: the entry for this address on this node's view. */
  readonly l2?: {
    readonly owner: string | null;
    readonly state: string;
    readonly interfaces: readonly string[];
  };
}

const contains = (prefix: string, address: string): boolean => {
  const ip = tryParseIp(address);
  try {
    return ip !== undefined && rangeContains(parseRange(prefix), ip);
  } catch {
    return false;
  }
};

export function announcementOf(address: string, bgp?: BgpAnswer, l2?: L2View): Announcement {
  const planned = bgp?.planned?.find((p) => contains(p, address));
  const route = bgp?.routes.find((r) => contains(r.prefix, address));
  const prefix = planned ?? route?.prefix;
  const entry = l2?.items.find((i) => i.address === address);
  return {
    address,
    ...(prefix ? { bgp: { prefix, peers: route?.peers ?? [] } } : {}),
    ...(entry ? { l2: { owner: entry.owner, state: entry.state, interfaces: entry.interfaces } } : {}),
  };
}

/** Undefined when announced wherever it should be; else what is still missing. */
export function notAnnounced(a: Announcement): string | undefined {
  if (a.bgp && a.bgp.peers.length === 0) return `${a.bgp.prefix} is not sent to any BGP peer yet`;
  if (a.l2 && a.l2.owner === null) return `${a.address} has no Layer 2 owner yet`;
  if (a.l2 && a.l2.state === 'failed') return `${a.address}: this node failed to announce it on Layer 2`;
  return undefined;
}

/** One line for describe. */
export function announcementText(a: Announcement): string[] {
  const lines: string[] = [];
  if (a.bgp)
    lines.push(
      a.bgp.peers.length > 0
        ? `BGP ${a.bgp.prefix} sent to ${a.bgp.peers.join(', ')}`
        : `BGP ${a.bgp.prefix} planned, not sent to any peer (no session established?)`,
    );
  if (a.l2)
    lines.push(
      a.l2.owner === null
        ? `L2 ${a.address} unowned`
        : `L2 ${a.address} owner ${a.l2.owner} (${a.l2.state}${a.l2.interfaces.length ? ` on ${a.l2.interfaces.join(',')}` : ''})`,
    );
  return lines;
}
