// BGPPeer, BGPAdvertisement, BFDProfile and Community objects → validated, typed BGP configuration.
// Accepts ferrolb.io/v1 and MetalLB's metallb.io shapes unchanged (BGPPeer v1beta2, the others
// v1beta1); ferrolb.io/v1 adds a few fields (passive, med, asPathPrepend). Every problem becomes a
// ConfigIssue naming object, field and value; invalid objects are left out of the result.
import { tryParseIp } from '../net/ip.js';
import { fieldPath, parseDurationMs, type ConfigIssue } from './issues.js';
import { toSelector } from './labels.js';
import type { LabelSelector } from './labels.js';
import { parseCommunity, type LargeCommunity } from './communities.js';

export const FERROLB_V1 = 'ferrolb.io/v1';
const ACCEPTED: Record<string, readonly string[]> = {
  BGPPeer: [FERROLB_V1, 'metallb.io/v1beta2'],
  BGPAdvertisement: [FERROLB_V1, 'metallb.io/v1beta1'],
  BFDProfile: [FERROLB_V1, 'metallb.io/v1beta1'],
  Community: [FERROLB_V1, 'metallb.io/v1beta1'],
};

export interface BgpPeerSpec {
  readonly name: string;
  readonly apiVersion: string;
  readonly myASN: number;
  readonly peerASN: number;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly sourceAddress?: string;
  readonly holdTimeSec: number;
  readonly keepaliveSec?: number;
  readonly connectTimeMs?: number;
  readonly routerID?: string;
  readonly bfdProfile?: string;
  readonly enableGracefulRestart: boolean;
  readonly ebgpMultiHop: boolean;
  readonly passive: boolean;
  /**
   * Next hops for the family the session's own address cannot give (ferrolb.io/v1): IPv6 routes over
   * an IPv4 session (multiprotocol BGP), or IPv4 routes over an IPv6 one.
   */
  readonly nextHopV4?: string;
  readonly nextHopV6?: string;
  readonly nodeSelectors: readonly LabelSelector[];
}

export interface BgpAdvertisementSpec {
  readonly name: string;
  readonly apiVersion: string;
  readonly ipAddressPools: readonly string[];
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  readonly aggregationLength: number;
  readonly aggregationLengthV6: number;
  readonly localPref?: number;
  readonly med?: number;
  readonly asPathPrepend: number;
  /** Resolved standard communities (aliases expanded). */
  readonly communities: readonly number[];
  readonly largeCommunities: readonly LargeCommunity[];
  readonly peers: readonly string[];
  readonly nodeSelectors: readonly LabelSelector[];
}

export interface BfdProfileSpec {
  readonly name: string;
  readonly receiveIntervalMs: number;
  readonly transmitIntervalMs: number;
  readonly detectMultiplier: number;
  readonly echoMode: boolean;
  readonly passiveMode: boolean;
  readonly minimumTtl: number;
}

export interface CommunitySpec {
  readonly name: string;
  readonly aliases: ReadonlyMap<string, string>;
}

export interface BgpObjects {
  readonly peers: BgpPeerSpec[];
  readonly advertisements: BgpAdvertisementSpec[];
  readonly bfdProfiles: BfdProfileSpec[];
  readonly communities: CommunitySpec[];
  readonly issues: ConfigIssue[];
  /** Accepted, but probably not what the user wants (e.g. one BGP identifier on several nodes). */
  readonly warnings: ConfigIssue[];
}

export interface RawBgpObject {
  readonly apiVersion?: unknown;
  readonly kind?: unknown;
  readonly metadata?: unknown;
  readonly spec?: unknown;
}

type Spec = Record<string, unknown>;

/** Collects issues for one object; each reader returns undefined after recording a problem. */
class Reader {
  constructor(
    readonly object: string,
    readonly spec: Spec,
    readonly issues: ConfigIssue[],
  ) {}
  issue(field: string, value: unknown, message: string): undefined {
    this.issues.push({ object: this.object, field: fieldPath('spec', field), value, message });
    return undefined;
  }
  int(field: string, min: number, max: number): number | undefined {
    const v = this.spec[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      return this.issue(field, v, `must be an integer ${min}..${max}`);
    return v;
  }
  bool(field: string): boolean | undefined {
    const v = this.spec[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') return this.issue(field, v, 'must be true or false');
    return v;
  }
  str(field: string): string | undefined {
    const v = this.spec[field];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') return this.issue(field, v, 'must be a string');
    return v;
  }
  ip(field: string, family?: 4 | 6): string | undefined {
    const s = this.str(field);
    if (s === undefined) return undefined;
    const ip = tryParseIp(s);
    if (!ip || (family && ip.family !== family))
      return this.issue(field, s, family ? `must be an IPv${family} address` : 'must be an IP address');
    return s;
  }
  durationMs(field: string): number | undefined {
    const v = this.spec[field];
    if (v === undefined) return undefined;
    const ms = typeof v === 'string' ? parseDurationMs(v) : undefined;
    if (ms === undefined) return this.issue(field, v, 'must be a duration such as "90s", "500ms", "1m30s"');
    return ms;
  }
  strings(field: string): string[] {
    const v = this.spec[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      this.issue(field, v, 'must be a list of strings');
      return [];
    }
    return v as string[];
  }
  selectors(field: string): LabelSelector[] {
    const v = this.spec[field];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.issue(field, v, 'must be a list of label selectors');
      return [];
    }
    return v.map(toSelector);
  }
  only(known: readonly string[], ferrolbOnly: readonly string[], isFerrolb: boolean): void {
    for (const k of Object.keys(this.spec)) {
      if (!known.includes(k) && !ferrolbOnly.includes(k)) this.issue(k, this.spec[k], 'unknown field');
      else if (!isFerrolb && ferrolbOnly.includes(k))
        this.issue(k, this.spec[k], `only available in ${FERROLB_V1}`);
    }
  }
}

const ASN_MAX = 0xffffffff;

function parsePeer(r: Reader, name: string, apiVersion: string): BgpPeerSpec | undefined {
  const before = r.issues.length;
  const isF = apiVersion === FERROLB_V1;
  r.only(
    [
      'myASN',
      'peerASN',
      'dynamicASN',
      'peerAddress',
      'peerPort',
      'sourceAddress',
      'holdTime',
      'keepaliveTime',
      'connectTime',
      'routerID',
      'nodeSelectors',
      'password',
      'passwordSecret',
      'bfdProfile',
      'enableGracefulRestart',
      'ebgpMultiHop',
      'vrf',
      'disableMP',
    ],
    ['passive', 'nextHopV4', 'nextHopV6'],
    isF,
  );
  const myASN = r.int('myASN', 1, ASN_MAX);
  if (r.spec.myASN === undefined) r.issue('myASN', undefined, 'required field is missing');
  let peerASN = r.int('peerASN', 1, ASN_MAX);
  const dyn = r.spec.dynamicASN;
  if (dyn !== undefined && r.spec.peerASN !== undefined)
    r.issue('dynamicASN', dyn, 'set either peerASN or dynamicASN, not both');
  else if (dyn === 'internal') peerASN = myASN;
  else if (dyn === 'external')
    r.issue('dynamicASN', dyn, 'not supported yet: set peerASN to the router’s AS number');
  else if (dyn !== undefined) r.issue('dynamicASN', dyn, 'must be "internal" or "external"');
  else if (r.spec.peerASN === undefined)
    r.issue('peerASN', undefined, 'required field is missing (or set dynamicASN)');
  const peerAddress = r.ip('peerAddress');
  if (r.spec.peerAddress === undefined) r.issue('peerAddress', undefined, 'required field is missing');
  const peerPort = r.int('peerPort', 1, 65535) ?? 179;
  const sourceAddress = r.ip('sourceAddress');
  const holdMs = r.durationMs('holdTime');
  if (holdMs !== undefined && holdMs !== 0 && holdMs < 3000)
    r.issue('holdTime', r.spec.holdTime, 'must be 0 or at least 3s (RFC 4271)');
  if (holdMs !== undefined && holdMs > 65535_000)
    r.issue('holdTime', r.spec.holdTime, 'must be at most 65535s');
  const keepMs = r.durationMs('keepaliveTime');
  const holdTimeSec = Math.floor((holdMs ?? 90_000) / 1000);
  if (keepMs !== undefined && keepMs > holdTimeSec * 1000)
    r.issue('keepaliveTime', r.spec.keepaliveTime, `must not exceed holdTime (${holdTimeSec}s)`);
  const connectTimeMs = r.durationMs('connectTime');
  const routerID = r.ip('routerID', 4);
  if (routerID !== undefined && tryParseIp(routerID)?.value === 0n)
    r.issue('routerID', routerID, '0.0.0.0 is not a valid BGP identifier (RFC 6286)');
  else if (routerID !== undefined && routerID === peerAddress)
    r.issue('routerID', routerID, 'clashes with peerAddress: the router would see its own identifier');
  const nextHopV4 = r.ip('nextHopV4', 4);
  const nextHopV6 = r.ip('nextHopV6', 6);
  if (nextHopV6 !== undefined && /^fe[89ab]/i.test(nextHopV6))
    r.issue(
      'nextHopV6',
      nextHopV6,
      'must be a global address (RFC 2545: routers refuse a link-local next hop alone)',
    );
  for (const f of ['password', 'passwordSecret'] as const)
    if (r.spec[f] !== undefined && r.spec[f] !== '')
      r.issue(
        f,
        f === 'password' ? '(hidden)' : r.spec[f],
        'TCP-MD5 (RFC 2385) is not available: Node.js sockets cannot set TCP_MD5SIG; remove it or peer through a router that supports it',
      );
  if (r.str('vrf') !== undefined)
    r.issue('vrf', r.spec.vrf, 'VRFs are not supported; sessions use the default VRF');
  if (r.spec.disableMP === true)
    r.issue('disableMP', true, 'not supported: ferrolb always negotiates multiprotocol BGP');
  const spec: BgpPeerSpec = {
    name,
    apiVersion,
    myASN: myASN ?? 0,
    peerASN: peerASN ?? 0,
    peerAddress: peerAddress ?? '',
    peerPort,
    ...(sourceAddress ? { sourceAddress } : {}),
    holdTimeSec,
    ...(keepMs !== undefined ? { keepaliveSec: Math.max(1, Math.floor(keepMs / 1000)) } : {}),
    ...(connectTimeMs !== undefined ? { connectTimeMs } : {}),
    ...(routerID ? { routerID } : {}),
    ...(r.str('bfdProfile') ? { bfdProfile: r.str('bfdProfile') as string } : {}),
    enableGracefulRestart: r.bool('enableGracefulRestart') ?? false,
    ebgpMultiHop: r.bool('ebgpMultiHop') ?? false,
    passive: r.bool('passive') ?? false,
    ...(nextHopV4 ? { nextHopV4 } : {}),
    ...(nextHopV6 ? { nextHopV6 } : {}),
    nodeSelectors: r.selectors('nodeSelectors'),
  };
  return r.issues.length === before ? spec : undefined;
}

function parseAdvertisement(
  r: Reader,
  name: string,
  apiVersion: string,
  aliases: ReadonlyMap<string, string>,
): BgpAdvertisementSpec | undefined {
  const before = r.issues.length;
  r.only(
    [
      'aggregationLength',
      'aggregationLengthV6',
      'localPref',
      'communities',
      'ipAddressPools',
      'ipAddressPoolSelectors',
      'nodeSelectors',
      'peers',
    ],
    ['med', 'asPathPrepend'],
    apiVersion === FERROLB_V1,
  );
  const communities: number[] = [];
  const largeCommunities: LargeCommunity[] = [];
  r.strings('communities').forEach((c, i) => {
    const parsed = parseCommunity(aliases.get(c) ?? c);
    if (!parsed) {
      r.issues.push({
        object: r.object,
        field: `spec.communities[${i}]`,
        value: c,
        message: aliases.has(c)
          ? `alias resolves to an invalid community "${aliases.get(c)}"`
          : 'not a community ("a:b", "large:a:b:c", a well-known name) or a Community alias',
      });
    } else if (parsed.kind === 'standard') communities.push(parsed.value);
    else largeCommunities.push(parsed.value);
  });
  const spec: BgpAdvertisementSpec = {
    name,
    apiVersion,
    ipAddressPools: r.strings('ipAddressPools'),
    ipAddressPoolSelectors: r.selectors('ipAddressPoolSelectors'),
    aggregationLength: r.int('aggregationLength', 0, 32) ?? 32,
    aggregationLengthV6: r.int('aggregationLengthV6', 0, 128) ?? 128,
    ...(r.int('localPref', 0, ASN_MAX) !== undefined ? { localPref: r.spec.localPref as number } : {}),
    ...(r.int('med', 0, ASN_MAX) !== undefined ? { med: r.spec.med as number } : {}),
    asPathPrepend: r.int('asPathPrepend', 0, 32) ?? 0,
    communities,
    largeCommunities,
    peers: r.strings('peers'),
    nodeSelectors: r.selectors('nodeSelectors'),
  };
  return r.issues.length === before ? spec : undefined;
}

function parseBfd(r: Reader, name: string): BfdProfileSpec | undefined {
  const before = r.issues.length;
  r.only(
    [
      'receiveInterval',
      'transmitInterval',
      'detectMultiplier',
      'echoInterval',
      'echoMode',
      'passiveMode',
      'minimumTtl',
    ],
    [],
    true,
  );
  // MetalLB writes the intervals as integers in milliseconds (10..60000).
  const spec: BfdProfileSpec = {
    name,
    receiveIntervalMs: r.int('receiveInterval', 10, 60_000) ?? 300,
    transmitIntervalMs: r.int('transmitInterval', 10, 60_000) ?? 300,
    detectMultiplier: r.int('detectMultiplier', 2, 255) ?? 3,
    echoMode: r.bool('echoMode') ?? false,
    passiveMode: r.bool('passiveMode') ?? false,
    minimumTtl: r.int('minimumTtl', 1, 254) ?? 254,
  };
  r.int('echoInterval', 10, 60_000);
  if (spec.echoMode)
    r.issue('echoMode', true, 'BFD echo mode is not supported (RFC 5880 asynchronous mode only)');
  return r.issues.length === before ? spec : undefined;
}

function parseCommunityObject(r: Reader, name: string): CommunitySpec | undefined {
  const before = r.issues.length;
  r.only(['communities'], [], true);
  const aliases = new Map<string, string>();
  const list = r.spec.communities;
  if (!Array.isArray(list)) r.issue('communities', list, 'must be a list of {name, value}');
  else
    list.forEach((e: unknown, i) => {
      const o = (e ?? {}) as { name?: unknown; value?: unknown };
      if (typeof o.name !== 'string' || o.name === '')
        r.issues.push({
          object: r.object,
          field: `spec.communities[${i}].name`,
          value: o.name,
          message: 'must be a non-empty string',
        });
      else if (typeof o.value !== 'string' || !parseCommunity(o.value))
        r.issues.push({
          object: r.object,
          field: `spec.communities[${i}].value`,
          value: o.value,
          message: 'must be "a:b" or "large:a:b:c"',
        });
      else aliases.set(o.name, o.value);
    });
  return r.issues.length === before ? { name, aliases } : undefined;
}

/** Validates every BGP-related object in `objects`; other kinds are ignored. */
export function parseBgpObjects(objects: readonly RawBgpObject[]): BgpObjects {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const out: BgpObjects = {
    peers: [],
    advertisements: [],
    bfdProfiles: [],
    communities: [],
    issues,
    warnings,
  };
  const mine = objects
    .map((o, i) => ({ o, i }))
    .filter(({ o }) => typeof o.kind === 'string' && o.kind in ACCEPTED);
  const prepared = mine.flatMap(({ o, i }) => {
    const kind = o.kind as string;
    const meta = (o.metadata ?? {}) as { name?: unknown };
    const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined;
    const object = name ? `${kind}/${name}` : `document ${i + 1}`;
    if (!name) {
      issues.push({ object, field: 'metadata.name', value: meta.name, message: 'required field is missing' });
      return [];
    }
    const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
    if (!(ACCEPTED[kind] ?? []).includes(apiVersion)) {
      issues.push({
        object,
        field: 'apiVersion',
        value: o.apiVersion,
        message: `must be one of ${(ACCEPTED[kind] ?? []).join(', ')}`,
      });
      return [];
    }
    if (o.spec === null || typeof o.spec !== 'object' || Array.isArray(o.spec)) {
      issues.push({ object, field: 'spec', value: o.spec, message: 'must be an object' });
      return [];
    }
    return [{ kind, name, apiVersion, reader: new Reader(object, o.spec as Spec, issues) }];
  });
  // Communities first: advertisements refer to their aliases.
  for (const p of prepared.filter((x) => x.kind === 'Community')) {
    const c = parseCommunityObject(p.reader, p.name);
    if (c) out.communities.push(c);
  }
  const aliases = new Map<string, string>();
  for (const c of out.communities) for (const [k, v] of c.aliases) aliases.set(k, v);
  for (const p of prepared) {
    if (p.kind === 'BGPPeer') {
      const x = parsePeer(p.reader, p.name, p.apiVersion);
      if (x) out.peers.push(x);
    } else if (p.kind === 'BFDProfile') {
      const x = parseBfd(p.reader, p.name);
      if (x) out.bfdProfiles.push(x);
    } else if (p.kind === 'BGPAdvertisement') {
      const x = parseAdvertisement(p.reader, p.name, p.apiVersion, aliases);
      if (x) out.advertisements.push(x);
    }
  }
  // Cross-references, reported on the referring object.
  const bfdNames = new Set(out.bfdProfiles.map((b) => b.name));
  const peerNames = new Set(out.peers.map((p) => p.name));
  for (const p of out.peers)
    if (p.bfdProfile && !bfdNames.has(p.bfdProfile))
      issues.push({
        object: `BGPPeer/${p.name}`,
        field: 'spec.bfdProfile',
        value: p.bfdProfile,
        message: 'no BFDProfile with this name',
      });
  for (const a of out.advertisements)
    a.peers.forEach((n, i) => {
      if (!peerNames.has(n))
        issues.push({
          object: `BGPAdvertisement/${a.name}`,
          field: `spec.peers[${i}]`,
          value: n,
          message: 'no BGPPeer with this name',
        });
    });
  prependIssues(out.peers, out.advertisements, issues);
  routerIdWarnings(out.peers, warnings);
  const seen = new Map<string, string>();
  for (const p of out.peers) {
    const key = `${p.peerAddress}|${p.peerPort}`;
    const other = seen.get(key);
    if (other)
      issues.push({
        object: `BGPPeer/${p.name}`,
        field: 'spec.peerAddress',
        value: p.peerAddress,
        message: `same address and port as BGPPeer/${other}`,
      });
    seen.set(key, p.name);
  }
  return out;
}

/**
 * AS-path prepending is an eBGP policy: on iBGP it would put our own AS in the path and every router
 * drops the route as a loop, so the speaker never prepends there. An advertisement with a prepend that
 * names an iBGP peer, or that can only ever reach iBGP peers, is refused instead of silently doing
 * nothing.
 */
function prependIssues(
  peers: readonly BgpPeerSpec[],
  advertisements: readonly BgpAdvertisementSpec[],
  issues: ConfigIssue[],
): void {
  const ibgp = (p: BgpPeerSpec): boolean => p.myASN === p.peerASN;
  for (const a of advertisements) {
    if (a.asPathPrepend === 0) continue;
    const named = a.peers.flatMap((n) => peers.filter((p) => p.name === n));
    const internal = named.filter(ibgp);
    const why =
      internal.length > 0
        ? `BGPPeer/${internal[0]?.name} is iBGP (myASN = peerASN = ${internal[0]?.myASN})`
        : a.peers.length === 0 && peers.length > 0 && peers.every(ibgp)
          ? 'every BGPPeer is iBGP'
          : undefined;
    if (why)
      issues.push({
        object: `BGPAdvertisement/${a.name}`,
        field: 'spec.asPathPrepend',
        value: a.asPathPrepend,
        message: `${why}: prepending our own AS toward iBGP peers makes them drop the route as an AS loop; prepend applies to eBGP peers only — list only eBGP peers in spec.peers or remove asPathPrepend`,
      });
  }
}

/** One BGP identifier on several nodes: routers then take two nodes' sessions for one speaker. */
function routerIdWarnings(peers: readonly BgpPeerSpec[], warnings: ConfigIssue[]): void {
  const byId = new Map<string, BgpPeerSpec>();
  for (const p of peers) {
    if (p.routerID === undefined) continue;
    if (p.nodeSelectors.length === 0)
      warnings.push({
        object: `BGPPeer/${p.name}`,
        field: 'spec.routerID',
        value: p.routerID,
        message:
          'applies to every node that runs this BGPPeer: with more than one node they would all share this BGP identifier; add nodeSelectors (one BGPPeer per node) or leave routerID unset so each node derives its own',
      });
    const other = byId.get(p.routerID);
    if (other && JSON.stringify(other.nodeSelectors) !== JSON.stringify(p.nodeSelectors))
      warnings.push({
        object: `BGPPeer/${p.name}`,
        field: 'spec.routerID',
        value: p.routerID,
        message: `BGPPeer/${other.name} selects other nodes with the same routerID: those nodes would share one BGP identifier`,
      });
    byId.set(p.routerID, p);
  }
}
