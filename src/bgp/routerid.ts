// The node's BGP identifier, pure: chosen once and kept. An identifier that moves resets every
// session (RFC 4271: it is part of the OPEN), and one taken from a service address moves with the
// service and can be the same on every node. Order: explicit (--router-id) > the one persisted in the
// state dir > derived once from a stable node address (the kernel's source address toward a peer,
// else the lowest interface address), never from a service address, the VIP interface, loopback or
// link-local. 0.0.0.0 is never valid (RFC 6286 §2.1), and an identifier equal to a peer's address
// clashes with that peer.
import { tryParseIp } from '../net/ip.js';

export class RouterIdError extends Error {
  constructor(
    readonly field: string,
    readonly value: string | undefined,
    reason: string,
  ) {
    super(`${field}: ${value === undefined ? '(unset)' : `"${value}"`}: ${reason}`);
    this.name = 'RouterIdError';
  }
}

/** Why `value` cannot be a BGP identifier, or undefined when it can. */
export function routerIdProblem(value: string): string | undefined {
  const ip = tryParseIp(value);
  if (!ip || ip.family !== 4 || !/^\d+\.\d+\.\d+\.\d+$/.test(value))
    return 'a BGP identifier must be a dotted-quad IPv4 address';
  if (ip.value === 0n) return '0.0.0.0 is not a valid BGP identifier (RFC 6286)';
  return undefined;
}

export interface NodeAddress {
  readonly iface: string;
  readonly address: string;
  readonly internal: boolean;
}

export interface DeriveInput {
  /** The node's IPv4 interface addresses (os.networkInterfaces()). */
  readonly addresses: readonly NodeAddress[];
  /** Source addresses the kernel picks toward the IPv4 peers, in peer-name order. */
  readonly towardPeers: readonly string[];
  /** Addresses of the pools (service addresses): never an identifier. */
  readonly isServiceAddress: (address: string) => boolean;
  readonly peerAddresses: ReadonlySet<string>;
  /** The interface that holds the VIPs (ferrolb0). */
  readonly vipInterface: string;
}

const num = (a: string): number => Number(tryParseIp(a)?.value ?? 0n);

function stable(d: DeriveInput, address: string): boolean {
  const ip = tryParseIp(address);
  if (!ip || ip.family !== 4 || routerIdProblem(address)) return false;
  const v = Number(ip.value);
  if (v >>> 24 === 127 || v >>> 16 === 0xa9fe) return false; // loopback, link-local
  if (d.isServiceAddress(address) || d.peerAddresses.has(address)) return false;
  const on = d.addresses.filter((a) => a.address === address);
  return on.length > 0 && on.every((a) => !a.internal && a.iface !== d.vipInterface);
}

/** A stable node address to use as identifier, or undefined when the node has none. */
export function deriveRouterId(d: DeriveInput): string | undefined {
  for (const a of d.towardPeers) if (stable(d, a)) return a;
  const all = [...new Set(d.addresses.map((a) => a.address))].filter((a) => stable(d, a));
  all.sort((x, y) => num(x) - num(y));
  return all[0];
}

export type RouterIdChoice =
  | {
      readonly routerId: string;
      readonly source: 'explicit' | 'persisted' | 'derived';
      readonly note?: string;
    }
  | { readonly error: RouterIdError };

/**
 * The identifier to use: explicit, else the persisted one if still usable, else derived (to be
 * persisted by the caller). A persisted identifier that now clashes (a peer took that address, a pool
 * now covers it) is replaced, with a note saying why.
 */
export function chooseRouterId(o: {
  readonly explicit?: string;
  readonly persisted?: string;
  readonly derive: DeriveInput;
}): RouterIdChoice {
  if (o.explicit !== undefined) {
    const bad = routerIdProblem(o.explicit);
    if (bad) return { error: new RouterIdError('--router-id', o.explicit, bad) };
    if (o.derive.peerAddresses.has(o.explicit))
      return { error: new RouterIdError('--router-id', o.explicit, "clashes with a BGPPeer's peerAddress") };
    return { routerId: o.explicit, source: 'explicit' };
  }
  let note: string | undefined;
  if (o.persisted !== undefined) {
    const p = o.persisted;
    const why =
      routerIdProblem(p) ??
      (o.derive.peerAddresses.has(p)
        ? "it is now a BGPPeer's peerAddress"
        : o.derive.isServiceAddress(p)
          ? 'it is now inside an address pool'
          : undefined);
    if (!why) return { routerId: p, source: 'persisted' };
    note = `persisted BGP identifier ${p} replaced: ${why}`;
  }
  const d = deriveRouterId(o.derive);
  if (!d)
    return {
      error: new RouterIdError(
        '--router-id',
        undefined,
        'no stable IPv4 node address to derive a BGP identifier from (service addresses, the VIP interface, loopback and link-local do not count); set --router-id or routerID on each BGPPeer',
      ),
    };
  return { routerId: d, source: 'derived', ...(note ? { note } : {}) };
}
