// ASCONF (RFC 5061) at the LB. The LB is the peer each side talks to, so it answers ASCONFs itself
// and never forwards them: a client's new address only adds client-side paths (the endpoint keeps
// seeing the same VIPs), an endpoint's new address only adds endpoint-side paths. Nothing the other
// side could learn an address from crosses the LB, and the receiver's ASCONF serial numbers stay
// consistent because it never sees one from its peer.
import type { IpAddr } from '../../net/ip.js';
import {
  type AsconfItem,
  type Asconf,
  CauseCode,
  type Param,
  ParamType,
  paramAddress,
  isAddressParam,
} from '../codec/index.js';
import { type Association, hasIp, ipKey, sameIp } from './association.js';
import type { Side } from './types.js';

/** More addresses than this per side are refused (bounds the path table per association). */
export const MAX_ADDRESSES_PER_SIDE = 8;

function encodeRequest(it: AsconfItem): Uint8Array {
  // The failed request TLV goes back inside the error cause (RFC 5061 §5.2).
  const inner = it.rest.map((p) => {
    const b = new Uint8Array(4 + p.value.length);
    b[0] = p.type >> 8;
    b[1] = p.type & 0xff;
    b[2] = (4 + p.value.length) >> 8;
    b[3] = (4 + p.value.length) & 0xff;
    b.set(p.value, 4);
    return b;
  });
  const len = 8 + inner.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(len);
  out[0] = it.type >> 8;
  out[1] = it.type & 0xff;
  out[2] = len >> 8;
  out[3] = len & 0xff;
  out[4] = it.correlationId >>> 24;
  out[5] = (it.correlationId >>> 16) & 0xff;
  out[6] = (it.correlationId >>> 8) & 0xff;
  out[7] = it.correlationId & 0xff;
  let o = 8;
  for (const b of inner) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

const refuse = (it: AsconfItem, cause: number): AsconfItem => ({
  type: ParamType.ERROR_CAUSE_INDICATION,
  correlationId: it.correlationId,
  rest: [{ type: cause, value: encodeRequest(it) }],
});
const ok = (it: AsconfItem): AsconfItem => ({
  type: ParamType.SUCCESS_INDICATION,
  correlationId: it.correlationId,
  rest: [],
});

export interface AsconfOutcome {
  /** The ASCONF-ACK to send back to the requester. */
  readonly ack: Asconf;
}

/**
 * Applies one ASCONF from `side` to the association (mutating its address sets and path maps) and
 * returns the reply. `src` is the packet's source address (the wildcard address means "this one";
 * deleting it is refused). Addresses that belong to the LB or the other side are refused.
 */
export function applyAsconf(a: Association, side: Side, req: Asconf, src: IpAddr): AsconfOutcome {
  const items: AsconfItem[] = [];
  const usable = new Set(a.vips.map((v) => v.family));
  for (const it of req.items) {
    const p: Param | undefined = it.rest[0];
    if (
      it.type !== ParamType.ADD_IP &&
      it.type !== ParamType.DELETE_IP &&
      it.type !== ParamType.SET_PRIMARY
    ) {
      items.push(refuse(it, CauseCode.UNRECOGNIZED_PARAMS));
      continue;
    }
    if (!p || !isAddressParam(p)) {
      items.push(refuse(it, CauseCode.INVALID_PARAM));
      continue;
    }
    let addr: IpAddr;
    try {
      addr = paramAddress(p);
    } catch {
      items.push(refuse(it, CauseCode.INVALID_PARAM));
      continue;
    }
    if (addr.value === 0n && addr.family === src.family) addr = src;
    const own = side === 'client' ? a.clientAddrs : a.endpointAddrs;
    const other = side === 'client' ? a.endpointAddrs : a.clientAddrs;
    if (hasIp(a.vips, addr) || hasIp(other, addr)) {
      items.push(refuse(it, CauseCode.NO_AUTHORIZATION));
      continue;
    }
    if (it.type === ParamType.ADD_IP) {
      if (!usable.has(addr.family)) items.push(refuse(it, CauseCode.UNRESOLVABLE_ADDRESS));
      else if (hasIp(own, addr)) items.push(ok(it));
      else if (own.length >= MAX_ADDRESSES_PER_SIDE) items.push(refuse(it, CauseCode.RESOURCE_SHORTAGE));
      else {
        own.push(addr);
        if (side === 'endpoint' && !a.endpointDst.has(addr.family)) a.endpointDst.set(addr.family, addr);
        if (side === 'client') fillReturnMap(a, addr);
        items.push(ok(it));
      }
    } else if (it.type === ParamType.DELETE_IP) {
      if (!hasIp(own, addr)) items.push(ok(it));
      else if (own.length === 1) items.push(refuse(it, CauseCode.DELETE_LAST_ADDRESS));
      else if (sameIp(addr, src)) items.push(refuse(it, CauseCode.DELETE_SOURCE_ADDRESS));
      else {
        const rest = own.filter((x) => !sameIp(x, addr));
        if (side === 'client') {
          a.clientAddrs = rest;
          repointReturnMap(a, addr);
        } else {
          a.endpointAddrs = rest;
          const dst = a.endpointDst.get(addr.family);
          if (dst && sameIp(dst, addr)) {
            const next = rest.find((x) => x.family === addr.family);
            if (next) a.endpointDst.set(addr.family, next);
            else a.endpointDst.delete(addr.family);
          }
        }
        items.push(ok(it));
      }
    } else {
      // Set Primary: the requester asks its peer (the LB) to prefer this address as destination.
      if (!hasIp(own, addr)) items.push(refuse(it, CauseCode.UNRESOLVABLE_ADDRESS));
      else {
        if (side === 'endpoint') a.endpointDst.set(addr.family, addr);
        else {
          const vip =
            a.initVip.family === addr.family ? a.initVip : a.vips.find((v) => v.family === addr.family);
          if (vip) {
            a.returnTo.set(ipKey(vip), addr);
            a.home.set(ipKey(vip), addr);
          }
        }
        items.push(ok(it));
      }
    }
  }
  return { ack: { serial: req.serial, items } };
}

/** A VIP whose endpoint-side path had no client address of its family gets the new one. */
function fillReturnMap(a: Association, addr: IpAddr): void {
  for (const v of a.vips)
    if (v.family === addr.family && !a.returnTo.has(ipKey(v))) {
      a.returnTo.set(ipKey(v), addr);
      a.home.set(ipKey(v), addr);
    }
}

/** Paths that delivered to a deleted client address move to another address of the same family. */
function repointReturnMap(a: Association, gone: IpAddr): void {
  const same = a.clientAddrs.filter((c) => c.family === gone.family);
  a.failedAt.delete(ipKey(gone));
  for (const m of [a.returnTo, a.home]) {
    let k = 0;
    for (const v of a.vips) {
      const to = m.get(ipKey(v));
      if (!to || !sameIp(to, gone)) continue;
      const next = same[k++ % Math.max(1, same.length)];
      if (next) m.set(ipKey(v), next);
      else m.delete(ipKey(v));
    }
  }
}
