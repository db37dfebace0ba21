// The comment on each fast-path key element: what the kernel's maps cannot say by themselves (the
// association id, both verification tags, whether the entry's VIP is the INIT's (flag `p`), an
// endpoint-side path's home address when it is failed over, one side's AUTH key vector), so a restarted LB rebuilds every established association from the kernel
// alone (kernel/adopt.ts). nft keeps at most 128 bytes per comment: the key vector, then the home
// address, are left out of an element when they do not fit (another element of the association
// carries them: every association has an entry per VIP and direction). Pure.
import { formatIp, tryParseIp, type IpAddr } from '../../net/ip.js';
import { sameIp } from '../engine/association.js';
import type { NatEntry, Side } from '../engine/types.js';

export const COMMENT_MAX = 120;
const MAGIC = 'flb1';

export interface EntryComment {
  readonly toward: Side;
  readonly association: number;
  readonly clientTag: number;
  readonly endpointTag: number;
  /** The entry's VIP is the one the INIT arrived on. */
  readonly initVip: boolean;
  readonly home?: IpAddr;
  readonly vector?: Uint8Array;
}

export function entryComment(e: NatEntry): string | undefined {
  const m = e.meta;
  if (!m) return undefined;
  const base = [
    MAGIC,
    `d=${e.toward === 'endpoint' ? 'e' : 'c'}`,
    `a=${e.association.toString(16)}`,
    `c=${m.clientTag.toString(16)}`,
    `e=${m.endpointTag.toString(16)}`,
    ...(sameIp(m.initVip, e.match.dst) ? ['p'] : []),
  ];
  // The home address only while the path is failed over (it equals the rewrite otherwise).
  const h = m.home && !sameIp(m.home, e.rewrite.dst) ? `h=${formatIp(m.home)}` : undefined;
  const k = m.vector ? `k=${Buffer.from(m.vector).toString('base64')}` : undefined;
  for (const extra of [[h, k], [k], [h], []]) {
    const s = [...base, ...extra.filter((x): x is string => x !== undefined)].join(' ');
    if (s.length <= COMMENT_MAX) return s;
  }
  return base.join(' ');
}

/** undefined when the comment is not ours or is damaged. */
export function parseEntryComment(s: string | undefined): EntryComment | undefined {
  if (!s) return undefined;
  const parts = s.split(' ');
  if (parts[0] !== MAGIC) return undefined;
  const f = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const i = p.indexOf('=');
    if (i > 0) f.set(p.slice(0, i), p.slice(i + 1));
    else f.set(p, '');
  }
  const num = (k: string) => {
    const v = f.get(k);
    if (v === undefined || !/^[0-9a-f]{1,8}$/.test(v)) return undefined;
    return parseInt(v, 16);
  };
  const d = f.get('d');
  const association = num('a');
  const clientTag = num('c');
  const endpointTag = num('e');
  const initVip = f.has('p');
  if ((d !== 'e' && d !== 'c') || !association || !clientTag || !endpointTag) return undefined;
  const home = f.has('h') ? tryParseIp(f.get('h') as string) : undefined;
  const k = f.get('k');
  const vector = k && /^[A-Za-z0-9+/]+=*$/.test(k) ? new Uint8Array(Buffer.from(k, 'base64')) : undefined;
  return {
    toward: d === 'e' ? 'endpoint' : 'client',
    association,
    clientTag,
    endpointTag,
    initVip,
    ...(home ? { home } : {}),
    ...(vector && vector.length > 0 ? { vector } : {}),
  };
}
