// Deterministic, collision-resistant nft object names. Readable prefix for humans, hash for
// uniqueness: service names may contain any character and nft identifiers may not.
import { shortHash } from './table.js';
import type { DataplaneProtocol } from '../types.js';
import type { Family } from '../../net/ip.js';

const sanitize = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 24);

/** Identity of one (service, protocol, port, family): one selection chain and its objects. */
export const servicePortId = (service: string, protocol: DataplaneProtocol, port: number, family: Family) =>
  `${sanitize(service)}_${shortHash(service, 8)}_${protocol.toLowerCase()}${port}_${family}`;

export const endpointTag = (address: string): string => shortHash(address, 8);

export const names = {
  dispatch: (f: Family) => `svc${f}`,
  snat: (f: Family) => `snat${f}`,
  svcCounters: (f: Family) => `svccnt${f}`,
  epCounters: (f: Family) => `epcnt${f}`,
  countChain: (f: Family, proto: string) => `count${f}${proto}`,
  selectChain: (sp: string) => `s_${sp}`,
  slots: (f: Family, p: DataplaneProtocol, shard: number) => `slots${f}${p.toLowerCase()}_${shard}`,
  verdicts: (sp: string) => `v_${sp}`,
  endpointChain: (sp: string, ep: string) => `e_${sp}_${ep}`,
  affinity: (sp: string, ep: string) => `a_${sp}_${ep}`,
  // Source ranges: restricted (VIP . proto . port) and allowed (… . source interval) sets per family,
  // for conntrack-tracked services (filter) and for the SCTP engine's untracked ones (guard).
  srcRestricted: (f: Family) => `srcr${f}`,
  srcAllowed: (f: Family) => `srca${f}`,
  guardRestricted: (f: Family) => `guardr${f}`,
  guardAllowed: (f: Family) => `guarda${f}`,
  srcDrops: (f: Family) => `srcdrop${f}`,
  filterPre: 'srcpre',
  filterOut: 'srcout',
  guardPre: 'guardpre',
} as const;
