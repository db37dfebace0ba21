// What `ferroctl get ...` prints. Pure functions from API views to text.
import { createRequire } from 'node:module';
import type { EndpointView, LoadBalancerView, PoolView } from '../state/views.js';
import { renderTable } from './table.js';

/**
 * YAML text of a value. The `yaml` package is loaded on first use only: it is ~80 modules, and
 * every other ferroctl command (the table of `get lb` above all) starts faster without it.
 */
export function stringify(value: unknown): string {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.stringify(value);
}

export const OUTPUTS = ['table', 'wide', 'json', 'yaml'] as const;
export type Output = (typeof OUTPUTS)[number];

const statusText = (lb: LoadBalancerView) =>
  lb.status.phase !== 'Allocated'
    ? `Pending: ${lb.status.reason ?? ''}`
    : lb.dataplane
      ? `Failed: ${lb.dataplane.reason}`
      : 'Allocated';
const or = (s: string) => (s === '' ? '-' : s);

/** Tables of load balancers (`-o json|yaml` print objects: formatObjects). */
export function formatLoadBalancers(lbs: readonly LoadBalancerView[], output: 'table' | 'wide'): string {
  const t = loadBalancerTable(lbs, output);
  return renderTable(t.headers, t.rows);
}

/**
 * `-o json|yaml`: stored objects that `ferroctl apply -f` takes back unchanged. One object alone,
 * several as a Kubernetes List (apply reads its items).
 */
export function formatObjects(objects: readonly unknown[], output: 'json' | 'yaml', single: boolean): string {
  const value = single ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
  return output === 'json' ? JSON.stringify(value, null, 2) + '\n' : stringify(value);
}

/** A view (describe -o json|yaml, get bgp|sctp|... -o json|yaml). */
export const formatValue = (value: unknown, output: 'json' | 'yaml'): string =>
  output === 'json' ? JSON.stringify(value, null, 2) + '\n' : stringify(value);

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
/** Bytes in binary units, three significant digits: 26784 → "26.2KiB". */
export function humanBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n}B` : `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${UNITS[u]}`;
}

const TABLE_HEADERS = [
  'NAME',
  'EXTERNAL IP',
  'SECONDARY IPS',
  'PORTS',
  'MODE',
  'SELECT',
  'ENDPOINTS',
  'STATUS',
];
const WIDE_HEADERS = [
  'NAME',
  'EXTERNAL IP',
  'SECONDARY IPS',
  'SOURCES',
  'PORT',
  'PROTOCOL',
  'SELECT',
  'MODE',
  'ENDPOINT IP',
  'TARGET PORT',
  'WEIGHT',
  'STATE',
  'PACKETS',
  'BYTES',
  'STATUS',
];

/** PACKETS and BYTES cells of an endpoint on one service port ('-' without a data plane). */
export const portCounterCells = (e: EndpointView): [string, string] =>
  e.portCounters ? [String(e.portCounters.packets), humanBytes(e.portCounters.bytes)] : ['-', '-'];

/** Headers and rows of the table (`table`) or wide (`wide`) listing: a page at a time when streamed. */
export function loadBalancerTable(
  lbs: readonly LoadBalancerView[],
  output: 'table' | 'wide',
): { headers: readonly string[]; rows: string[][] } {
  if (output === 'table') {
    return {
      headers: TABLE_HEADERS,
      rows: lbs.map((lb) => {
        const active = new Set(lb.endpoints.filter((e) => e.state === 'active').map((e) => e.address)).size;
        const total = new Set(lb.endpoints.map((e) => e.address)).size;
        return [
          lb.name,
          or(lb.addresses.join(',')),
          or(lb.secondaryAddresses.join(',')),
          lb.ports.map((p) => `${p.port}/${p.protocol}`).join(','),
          lb.mode,
          lb.algorithm,
          `${active}/${total} active`,
          statusText(lb),
        ];
      }),
    };
  }
  // wide: one row per (port, endpoint) like loxicmd; service cells blank on continuation rows.
  const rows: string[][] = [];
  for (const lb of lbs) {
    const svc = [
      lb.name,
      or(lb.addresses.join(',')),
      or(lb.secondaryAddresses.join(',')),
      lb.sourceRanges.length ? lb.sourceRanges.join(',') : 'any',
    ];
    let first = true;
    for (const p of lb.ports) {
      const eps = lb.endpoints.filter((e) => e.servicePort === p.port && e.protocol === p.protocol);
      const lead = (i: number) => (first && i === 0 ? svc : ['', '', '', '']);
      const portCells = (i: number) =>
        i === 0 ? [String(p.port), p.protocol, lb.algorithm, lb.mode] : ['', '', '', ''];
      if (eps.length === 0)
        rows.push([...lead(0), ...portCells(0), '-', '-', '-', '-', '-', '-', first ? statusText(lb) : '']);
      eps.forEach((e, i) =>
        rows.push([
          ...lead(i),
          ...portCells(i),
          e.address,
          String(e.port),
          String(e.weight),
          e.state,
          // This port's counters: an endpoint serving two ports has two rows, each with its own.
          ...portCounterCells(e),
          first && i === 0 ? statusText(lb) : '',
        ]),
      );
      first = false;
    }
  }
  return { headers: WIDE_HEADERS, rows };
}

export function formatPools(pools: readonly PoolView[], output: 'table' | 'wide'): string {
  const fam = (u: PoolView['ipv4']) => (u.total === '0' ? '-' : `${u.used}/${u.free}`);
  return renderTable(
    ['NAME', 'AUTO-ASSIGN', 'IPV4 USED/FREE', 'IPV6 USED/FREE', ...(output === 'wide' ? ['ADDRESSES'] : [])],
    pools.map((p) => [
      p.name,
      String(p.autoAssign),
      fam(p.ipv4),
      fam(p.ipv6),
      ...(output === 'wide' ? [p.addresses.join(',')] : []),
    ]),
  );
}
