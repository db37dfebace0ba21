// Input limits every front door passes (file, SIGHUP, REST, Kubernetes): how many objects, how deep,
// how long a string may be. Checked before anything recursive touches the input, without recursion
// itself, so a 100k-deep document is a clear error rather than a stack overflow.
import { parseRange, rangesOverlap, type IpAddr, type IpRange } from '../net/ip.js';
import type { ConfigIssue } from './issues.js';

export const LIMITS = {
  /** Objects in one file or one request. */
  objects: 100_000,
  /** Nesting of one object (a LoadBalancer needs 5). */
  depth: 32,
  /** Any string value or key, except annotation values. */
  string: 4096,
  /** One annotation value, and all of an object's annotations together (Kubernetes: 256 KiB). */
  annotation: 64 * 1024,
  annotations: 256 * 1024,
  /** YAML aliases resolved per document (alias bombs). */
  yamlAliases: 100,
  /** Timers: setTimeout's ceiling (2^31−1 ms, about 24.8 days); above it Node fires at once. */
  timerMs: 2 ** 31 - 1,
  /** nft set timeouts, seconds: nft refuses much more ("value too large"); 365 days is ample. */
  persistTimeoutSeconds: 365 * 24 * 3600,
} as const;

function label(o: unknown, index: number): string {
  const m = (o as { kind?: unknown; metadata?: { name?: unknown } } | null) ?? undefined;
  return typeof m?.kind === 'string' && typeof m.metadata?.name === 'string' && m.metadata.name
    ? `${m.kind}/${m.metadata.name.slice(0, 64)}${m.metadata.name.length > 64 ? '...' : ''}`
    : `document ${index + 1}`;
}

/** The object-count cap of one file or request. */
export function countIssues(n: number): ConfigIssue[] {
  return n > LIMITS.objects
    ? [
        {
          object: 'input',
          field: '',
          value: n,
          message: `too many objects (${n}; at most ${LIMITS.objects} per file or request)`,
        },
      ]
    : [];
}

/** Limit problems of one change's objects (empty when within limits). Iterative: no recursion. */
export function limitIssues(objects: readonly unknown[], firstIndex = 0): ConfigIssue[] {
  const count = countIssues(objects.length);
  if (count.length > 0) return count;
  const issues: ConfigIssue[] = [];
  objects.forEach((o, i) => {
    const object = label(o, firstIndex + i);
    const stack: { v: unknown; path: string; depth: number }[] = [{ v: o, path: '', depth: 0 }];
    let annotationBytes = 0;
    while (stack.length > 0) {
      const { v, path, depth } = stack.pop() as { v: unknown; path: string; depth: number };
      const annotation = path.startsWith('metadata.annotations.');
      if (typeof v === 'string') {
        const max = annotation ? LIMITS.annotation : LIMITS.string;
        if (annotation) annotationBytes += v.length;
        if (v.length > max) {
          issues.push({
            object,
            field: path,
            value: `${v.slice(0, 32)}...`,
            message: `${v.length} characters; at most ${max}`,
          });
          return;
        }
        continue;
      }
      if (v === null || typeof v !== 'object') continue;
      if (depth >= LIMITS.depth) {
        issues.push({
          object,
          field: path,
          value: undefined,
          message: `nested deeper than ${LIMITS.depth} levels`,
        });
        return;
      }
      const entries: [string, unknown][] = Array.isArray(v)
        ? v.map((x, i) => [String(i), x])
        : Object.entries(v as Record<string, unknown>);
      for (const [k, x] of entries) {
        if (k.length > LIMITS.string) {
          issues.push({
            object,
            field: path,
            value: `${k.slice(0, 32)}...`,
            message: `a key of ${k.length} characters; at most ${LIMITS.string}`,
          });
          return;
        }
        if (path === 'metadata.annotations') annotationBytes += k.length;
        stack.push({
          v: x,
          path: Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k,
          depth: depth + 1,
        });
      }
    }
    if (annotationBytes > LIMITS.annotations)
      issues.push({
        object,
        field: 'metadata.annotations',
        value: undefined,
        message: `${annotationBytes} bytes in all; at most ${LIMITS.annotations}`,
      });
  });
  return issues;
}

/** Address ranges no service may use, and why (IANA special-purpose registries, RFC 6890). */
const SPECIAL: readonly { range: IpRange; text: string; why: string; endpointOk: boolean }[] = [
  ['0.0.0.0/8', '"this network" (RFC 1122): not a destination', false],
  ['127.0.0.0/8', 'loopback: never leaves the host', true],
  ['169.254.0.0/16', 'link-local (RFC 3927): not routed', true],
  ['224.0.0.0/4', 'multicast: not a unicast service address', false],
  ['240.0.0.0/4', 'reserved (RFC 1112), with 255.255.255.255 broadcast', false],
  ['::/128', 'the unspecified address', false],
  ['::1/128', 'loopback: never leaves the host', true],
  ['::ffff:0:0/96', 'IPv4-mapped: use the IPv4 address', false],
  ['fe80::/10', 'link-local: not routed', true],
  ['ff00::/8', 'multicast: not a unicast service address', false],
].map(([cidr, why, endpointOk]) => ({
  range: parseRange(cidr as string),
  text: cidr as string,
  why: why as string,
  endpointOk: endpointOk as boolean,
}));

/** Why a range may not hold service addresses, or undefined when it may. */
export function specialRangeReason(r: IpRange): string | undefined {
  const hit = SPECIAL.find((s) => rangesOverlap(s.range, r));
  return hit && `overlaps ${hit.text}, ${hit.why}; service addresses must be unicast and routable`;
}

/** Why an address may not be a service (or, with `endpoint`, an endpoint) address. */
export function specialAddressReason(ip: IpAddr, endpoint = false): string | undefined {
  const hit = SPECIAL.find(
    (s) =>
      (!endpoint || !s.endpointOk) &&
      rangesOverlap(s.range, { family: ip.family, first: ip.value, last: ip.value }),
  );
  return hit && `inside ${hit.text}, ${hit.why}`;
}
