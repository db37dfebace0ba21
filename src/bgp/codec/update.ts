// UPDATE message (RFC 4271 §4.3) and the packer that fits many prefixes into each message. Routes
// that share attributes share one UPDATE, up to the 4096-byte limit: announcing 10k service addresses
// takes a few dozen messages rather than 10k (MetalLB's native speaker sends one UPDATE per prefix).
import {
  AttrCode,
  decodeAttributes,
  encodeAttributes,
  familyOfAfi,
  type CodecContext,
  type PathAttributes,
} from './attributes.js';
import { BgpDecodeError, BgpEncodeError, ErrorCode, UpdateSubcode } from './errors.js';
import { AFI, SAFI } from './open.js';
import { prefixByteLength, readPrefixes, writePrefix, type Prefix } from './prefix.js';
import { Reader, Writer } from './reader.js';

export const MAX_MESSAGE = 4096;
export const HEADER_LEN = 19;

export interface UpdateMessage {
  readonly type: 'update';
  /** IPv4 unicast withdrawals (IPv6 ones travel in attributes.mpUnreach). */
  readonly withdrawn: readonly Prefix[];
  readonly attributes: PathAttributes;
  /** IPv4 unicast NLRI (IPv6 ones travel in attributes.mpReach). */
  readonly nlri: readonly Prefix[];
}

export function decodeUpdateBody(body: Uint8Array, ctx: CodecContext): UpdateMessage {
  const r = new Reader(body, ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList);
  const wlen = r.u16('withdrawn routes length');
  if (wlen > r.remaining) r.fail('withdrawn routes length overruns message');
  const wr = r.sub(wlen, ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList);
  const withdrawn = readPrefixes(wr, 4, ctx.addPath(AFI.IPv4, SAFI.Unicast));
  const alen = r.u16('path attribute length');
  if (alen > r.remaining) r.fail('path attribute length overruns message');
  const attributes = decodeAttributes(r.bytes(alen), ctx);
  const nr = r.sub(r.remaining, ErrorCode.UpdateMessage, UpdateSubcode.InvalidNetworkField);
  const nlri = readPrefixes(nr, 4, ctx.addPath(AFI.IPv4, SAFI.Unicast));
  const reach = nlri.length > 0 || (attributes.mpReach?.nlri.length ?? 0) > 0;
  if (reach) {
    const missing =
      attributes.origin === undefined
        ? AttrCode.Origin
        : attributes.asPath === undefined
          ? AttrCode.AsPath
          : nlri.length > 0 && attributes.nextHop === undefined
            ? AttrCode.NextHop
            : undefined;
    if (missing !== undefined)
      throw new BgpDecodeError(
        ErrorCode.UpdateMessage,
        UpdateSubcode.MissingWellKnown,
        `missing attribute ${missing}`,
        Uint8Array.of(missing),
      );
  }
  return { type: 'update', withdrawn, attributes, nlri };
}

export function encodeUpdateBody(m: Omit<UpdateMessage, 'type'>, ctx: CodecContext): Uint8Array {
  const v4AddPath = ctx.addPath(AFI.IPv4, SAFI.Unicast);
  const wd = new Writer();
  for (const p of m.withdrawn) {
    if (p.family !== 4) throw new BgpEncodeError('IPv6 withdrawal outside MP_UNREACH');
    writePrefix(wd, p, v4AddPath);
  }
  const attrs = encodeAttributes(m.attributes, ctx);
  const w = new Writer();
  w.u16(wd.length).bytes(wd.finish()).u16(attrs.length).bytes(attrs);
  for (const p of m.nlri) {
    if (p.family !== 4) throw new BgpEncodeError('IPv6 NLRI outside MP_REACH');
    writePrefix(w, p, v4AddPath);
  }
  return w.finish();
}

/** End-of-RIB marker (RFC 4724 §2): empty UPDATE for IPv4, empty MP_UNREACH for other families. */
export function endOfRib(afi: number, safi: number): UpdateMessage {
  if (afi === AFI.IPv4 && safi === SAFI.Unicast)
    return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  return { type: 'update', withdrawn: [], attributes: { mpUnreach: { afi, safi, withdrawn: [] } }, nlri: [] };
}

export function isEndOfRib(m: UpdateMessage): AfiSafiKey | undefined {
  if (m.withdrawn.length > 0 || m.nlri.length > 0) return undefined;
  const keys = Object.keys(m.attributes).filter(
    (k) => (m.attributes as Record<string, unknown>)[k] !== undefined,
  );
  if (keys.length === 0) return `${AFI.IPv4}/${SAFI.Unicast}`;
  const u = m.attributes.mpUnreach;
  if (keys.length === 1 && u && u.withdrawn.length === 0) return `${u.afi}/${u.safi}`;
  return undefined;
}

export type AfiSafiKey = `${number}/${number}`;

/** A route to announce: prefix plus attributes (without NEXT_HOP/MP_*), and the family's next hop(s). */
export interface OutRoute {
  readonly prefix: Prefix;
  readonly attributes: Omit<PathAttributes, 'nextHop' | 'mpReach' | 'mpUnreach'>;
  /** IPv4 next hop for IPv4 prefixes; IPv6 global (and optional link-local) for IPv6 prefixes. */
  readonly nextHops: readonly bigint[];
}

const bigintSafe = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : v);
export const attributesKey = (
  r: Pick<OutRoute, 'attributes' | 'nextHops'> & { prefix: { family: number } },
): string => JSON.stringify([r.prefix.family, r.nextHops, r.attributes], bigintSafe);

/**
 * Packs withdrawals and announcements into as few UPDATEs as the size limit allows. Announcements are
 * grouped by identical attributes (one attribute block per message). Every returned message encodes to
 * at most `maxSize` bytes including the header.
 */
export function packUpdates(
  announce: readonly OutRoute[],
  withdraw: readonly Prefix[],
  ctx: CodecContext,
  maxSize = MAX_MESSAGE,
): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  const bodyBudget = maxSize - HEADER_LEN;
  const ap = (f: 4 | 6): boolean => ctx.addPath(f === 4 ? AFI.IPv4 : AFI.IPv6, SAFI.Unicast);

  // Fills chunks of prefixes into a fixed per-message budget.
  const chunk = (prefixes: readonly Prefix[], budget: number, addPath: boolean): Prefix[][] => {
    if (budget < 1 + 4 + 16 + 1) throw new BgpEncodeError('attributes leave no room for a prefix');
    const chunks: Prefix[][] = [];
    let cur: Prefix[] = [];
    let used = 0;
    for (const p of prefixes) {
      const n = prefixByteLength(p, addPath);
      if (used + n > budget) {
        chunks.push(cur);
        cur = [];
        used = 0;
      }
      cur.push(p);
      used += n;
    }
    if (cur.length > 0) chunks.push(cur);
    return chunks;
  };

  const w4 = withdraw.filter((p) => p.family === 4);
  const w6 = withdraw.filter((p) => p.family === 6);
  // Body: withdrawn len (2) + withdrawn + attr len (2) + attrs.
  for (const c of chunk(w4, bodyBudget - 4, ap(4)))
    out.push({ type: 'update', withdrawn: c, attributes: {}, nlri: [] });
  // MP_UNREACH: attr header 4 (extended) + AFI/SAFI 3.
  for (const c of chunk(w6, bodyBudget - 4 - 4 - 3, ap(6)))
    out.push({
      type: 'update',
      withdrawn: [],
      attributes: { mpUnreach: { afi: AFI.IPv6, safi: SAFI.Unicast, withdrawn: c } },
      nlri: [],
    });

  const groups = new Map<string, OutRoute[]>();
  for (const r of announce) {
    const k = attributesKey(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  for (const g of groups.values()) {
    const first = g[0] as OutRoute;
    const prefixes = g.map((r) => r.prefix);
    if (first.prefix.family === 4) {
      const [nh] = first.nextHops;
      if (nh === undefined) throw new BgpEncodeError('IPv4 route without next hop');
      const attributes: PathAttributes = { ...first.attributes, nextHop: nh };
      const alen = encodeAttributes(attributes, ctx).length;
      for (const c of chunk(prefixes, bodyBudget - 4 - alen, ap(4)))
        out.push({ type: 'update', withdrawn: [], attributes, nlri: c });
    } else {
      if (first.nextHops.length === 0) throw new BgpEncodeError('IPv6 route without next hop');
      const base = encodeAttributes(first.attributes, ctx).length;
      const mpFixed = 4 + 3 + 1 + 16 * first.nextHops.length + 1;
      for (const c of chunk(prefixes, bodyBudget - 4 - base - mpFixed, ap(6)))
        out.push({
          type: 'update',
          withdrawn: [],
          attributes: {
            ...first.attributes,
            mpReach: { afi: AFI.IPv6, safi: SAFI.Unicast, nextHops: first.nextHops, nlri: c },
          },
          nlri: [],
        });
    }
  }
  return out;
}

export const familyAfi = (f: 4 | 6): number => (f === 4 ? AFI.IPv4 : AFI.IPv6);
export { familyOfAfi };
