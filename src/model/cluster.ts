// The Cluster kind (ferrolb.io/v1): the LB nodes that share service addresses (Layer 2 ownership,
// later connection-state sync), the shared key that authenticates every message between them, and
// the heartbeat timing. Every node runs the same object; `ferrolb run --node-name` says which one
// it is. Pure: the key file's content is checked by `clusterKeyIssue` with bytes read elsewhere.
import { canonicalIp, tryParseIp } from '../net/ip.js';
import { fieldPath, parseDurationMs, type ConfigIssue } from './issues.js';

/** The object as it arrives (types.ts's RawObject; not imported: types.ts imports this file). */
interface RawObject {
  readonly apiVersion?: unknown;
  readonly metadata?: unknown;
  readonly spec?: unknown;
}

export const CLUSTER_KIND = 'Cluster';
export const CLUSTER_API_VERSION = 'ferrolb.io/v1';

/** Defaults (docs/l2.md, "Cluster membership"). */
export const CLUSTER_DEFAULTS = {
  heartbeatIntervalMs: 100,
  /** A node is dead after this many heartbeat intervals without an authenticated message. */
  deadAfter: 3,
  /** UDP port of the membership channel on every node address. */
  port: 11113,
} as const;

export const CLUSTER_LIMITS = {
  minHeartbeatMs: 10,
  maxHeartbeatMs: 10_000,
  minDeadAfter: 2,
  maxDeadAfter: 20,
  maxNodes: 64,
  /** HMAC-SHA256 keys shorter than its block's half give less than 256 bits of secret. */
  minKeyBytes: 32,
  maxKeyBytes: 4096,
} as const;

export interface ClusterNode {
  readonly name: string;
  /** Canonical text form. */
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ClusterSpec {
  readonly name: string;
  readonly authKeyFile: string;
  readonly heartbeatIntervalMs: number;
  readonly deadAfter: number;
  readonly port: number;
  /** Sorted by name. */
  readonly nodes: readonly ClusterNode[];
}

const SPEC_FIELDS = ['authKeyFile', 'heartbeatInterval', 'deadAfter', 'port', 'nodes'];
const NODE_FIELDS = ['name', 'address', 'labels'];
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates the Cluster objects of a configuration (at most one). */
export function parseClusters(objects: readonly RawObject[]): {
  cluster?: ClusterSpec;
  issues: ConfigIssue[];
} {
  const issues: ConfigIssue[] = [];
  if (objects.length > 1) {
    const names = objects.map((o) => String((o.metadata as Obj | undefined)?.name));
    for (const o of objects.slice(1))
      issues.push({
        object: `${CLUSTER_KIND}/${String((o.metadata as Obj | undefined)?.name)}`,
        field: 'metadata.name',
        value: (o.metadata as Obj | undefined)?.name,
        message: `only one Cluster may be defined (found ${names.join(', ')})`,
      });
    return { issues };
  }
  const o = objects[0];
  if (!o) return { issues };
  const cluster = parseCluster(o, issues);
  return issues.length > 0 || !cluster ? { issues } : { cluster, issues };
}

function parseCluster(o: RawObject, issues: ConfigIssue[]): ClusterSpec | undefined {
  const name = String((o.metadata as Obj | undefined)?.name);
  const object = `${CLUSTER_KIND}/${name}`;
  const issue = (field: string, value: unknown, message: string): undefined => {
    issues.push({ object, field, value, message });
    return undefined;
  };
  if (o.apiVersion !== CLUSTER_API_VERSION)
    issue('apiVersion', o.apiVersion, `must be ${JSON.stringify(CLUSTER_API_VERSION)}`);
  const spec = o.spec;
  if (!isObj(spec)) return issue('spec', spec, 'must be an object with authKeyFile and nodes');
  for (const k of Object.keys(spec))
    if (!SPEC_FIELDS.includes(k)) issue(`spec.${k}`, spec[k], 'unknown field');

  const keyFile = spec.authKeyFile;
  if (keyFile === undefined) issue('spec.authKeyFile', undefined, 'required field is missing');
  else if (typeof keyFile !== 'string' || !keyFile.startsWith('/'))
    issue('spec.authKeyFile', keyFile, 'must be an absolute path to the shared key file');

  let heartbeatIntervalMs: number = CLUSTER_DEFAULTS.heartbeatIntervalMs;
  if (spec.heartbeatInterval !== undefined) {
    const ms =
      typeof spec.heartbeatInterval === 'string' ? parseDurationMs(spec.heartbeatInterval) : undefined;
    const L = CLUSTER_LIMITS;
    if (ms === undefined)
      issue('spec.heartbeatInterval', spec.heartbeatInterval, 'must be a duration such as "100ms" or "1s"');
    else if (ms < L.minHeartbeatMs || ms > L.maxHeartbeatMs)
      issue(
        'spec.heartbeatInterval',
        spec.heartbeatInterval,
        `must be between ${L.minHeartbeatMs}ms and ${L.maxHeartbeatMs / 1000}s`,
      );
    else heartbeatIntervalMs = ms;
  }
  const int = (field: string, min: number, max: number, dflt: number): number => {
    const v = spec[field];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      issue(`spec.${field}`, v, `must be an integer ${min}..${max}`);
      return dflt;
    }
    return v;
  };
  const deadAfter = int(
    'deadAfter',
    CLUSTER_LIMITS.minDeadAfter,
    CLUSTER_LIMITS.maxDeadAfter,
    CLUSTER_DEFAULTS.deadAfter,
  );
  const port = int('port', 1, 65535, CLUSTER_DEFAULTS.port);

  const nodes: ClusterNode[] = [];
  const rawNodes = spec.nodes;
  if (rawNodes === undefined) issue('spec.nodes', undefined, 'required field is missing');
  else if (!Array.isArray(rawNodes) || rawNodes.length === 0)
    issue('spec.nodes', rawNodes, 'must be a non-empty list of {name, address}');
  else if (rawNodes.length > CLUSTER_LIMITS.maxNodes)
    issue('spec.nodes', `${rawNodes.length} nodes`, `at most ${CLUSTER_LIMITS.maxNodes} nodes`);
  else {
    const byName = new Map<string, number>();
    const byAddress = new Map<string, number>();
    rawNodes.forEach((n: unknown, i) => {
      const at = fieldPath('spec.nodes', i);
      if (!isObj(n)) return issue(at, n, 'must be an object {name, address, labels}');
      for (const k of Object.keys(n))
        if (!NODE_FIELDS.includes(k)) issue(`${at}.${k}`, n[k], 'unknown field');
      const nm = n.name;
      let ok = true;
      if (typeof nm !== 'string' || nm.length > 253 || !NAME.test(nm)) {
        issue(`${at}.name`, nm, 'must be a lower-case DNS name (a-z, 0-9, "-", ".")');
        ok = false;
      } else if (byName.has(nm)) {
        issue(`${at}.name`, nm, `duplicate node name (also spec.nodes[${byName.get(nm)}])`);
        ok = false;
      } else byName.set(nm, i);
      const addr = n.address;
      let address = '';
      if (typeof addr !== 'string' || !tryParseIp(addr)) {
        issue(`${at}.address`, addr, 'must be an IPv4 or IPv6 address');
        ok = false;
      } else {
        address = canonicalIp(addr);
        if (byAddress.has(address)) {
          issue(`${at}.address`, addr, `duplicate node address (also spec.nodes[${byAddress.get(address)}])`);
          ok = false;
        } else byAddress.set(address, i);
      }
      const labels = n.labels ?? {};
      if (!isObj(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
        issue(`${at}.labels`, labels, 'must be a map of strings');
        ok = false;
      }
      if (ok) nodes.push({ name: nm as string, address, labels: { ...(labels as Record<string, string>) } });
    });
  }
  const families = new Set(nodes.map((n) => (n.address.includes(':') ? 6 : 4)));
  if (families.size > 1)
    issue(
      'spec.nodes',
      nodes.map((n) => n.address),
      'node addresses must all be IPv4 or all be IPv6',
    );
  if (issues.length > 0) return undefined;
  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name, authKeyFile: keyFile as string, heartbeatIntervalMs, deadAfter, port, nodes };
}

/** The issue with this node's name, if `nodeName` is not one of the Cluster's nodes. */
export function nodeNameIssue(c: ClusterSpec, nodeName: string): ConfigIssue | undefined {
  if (c.nodes.some((n) => n.name === nodeName)) return undefined;
  return {
    object: `${CLUSTER_KIND}/${c.name}`,
    field: 'spec.nodes',
    value: nodeName,
    message: `this node (--node-name "${nodeName}") is not in the Cluster; its nodes are ${c.nodes.map((n) => n.name).join(', ')}`,
  };
}

/**
 * The key file's content as read (or the read error): a key shorter than 32 bytes, or none, is
 * refused. Surrounding whitespace (a trailing newline) is not part of the key.
 */
export function clusterKeyIssue(
  c: ClusterSpec,
  content: Uint8Array | { readonly error: string },
): ConfigIssue | undefined {
  const at = { object: `${CLUSTER_KIND}/${c.name}`, field: 'spec.authKeyFile', value: c.authKeyFile };
  if ('error' in content) return { ...at, message: `cannot read the key file: ${content.error}` };
  const key = trimKey(content);
  if (key.length < CLUSTER_LIMITS.minKeyBytes)
    return {
      ...at,
      message: `the key is ${key.length} bytes; at least ${CLUSTER_LIMITS.minKeyBytes} are needed (e.g. head -c 32 /dev/urandom | base64 > FILE)`,
    };
  if (key.length > CLUSTER_LIMITS.maxKeyBytes)
    return { ...at, message: `the key is ${key.length} bytes; at most ${CLUSTER_LIMITS.maxKeyBytes}` };
  return undefined;
}

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

export function trimKey(content: Uint8Array): Uint8Array {
  let s = 0;
  let e = content.length;
  while (s < e && isSpace(content[s] as number)) s++;
  while (e > s && isSpace(content[e - 1] as number)) e--;
  return content.subarray(s, e);
}
