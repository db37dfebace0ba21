// `ferroctl describe lb NAME`: one service in full — spec, allocation, endpoints with health and
// counters, BGP/L2 announcement, recent events. Pure text from the API's answers.
import type { LoadBalancerView } from '../state/views.js';
import type { ServiceEvent } from '../state/events.js';
import type { L2View } from '../l2/view.js';
import { announcementOf, announcementText, type Announcement, type BgpAnswer } from './announce.js';
import { humanBytes, portCounterCells, stringify } from './format.js';
import { renderTable } from './table.js';

export interface Description {
  readonly view: LoadBalancerView;
  /** The stored object (its spec); absent from older servers. */
  readonly object?: Record<string, unknown>;
  readonly bgp?: BgpAnswer;
  readonly l2?: L2View;
  readonly events?: readonly ServiceEvent[];
  /** GET /dataplane: whether this node programs the kernel at all. */
  readonly dataplane?: { readonly kernel: boolean };
}

/** What `describe -o json|yaml` prints: the view, its announcements and events in one value. */
export function descriptionValue(d: Description): Record<string, unknown> {
  return {
    ...d.view,
    announcements: announcements(d),
    events: d.events ?? [],
  };
}

function announcements(d: Description): Announcement[] {
  return [...d.view.addresses, ...d.view.secondaryAddresses]
    .map((a) => announcementOf(a, d.bgp, d.l2))
    .filter((a) => a.bgp || a.l2);
}

/** "3m20s" from milliseconds (kubectl's AGE). */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h${m % 60 ? `${m % 60}m` : ''}` : `${Math.floor(h / 24)}d`;
}

const indent = (text: string, by = '  ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

export function describeLoadBalancer(d: Description, now = Date.now()): string {
  const v = d.view;
  const field = (k: string, val: string) => `${(k + ':').padEnd(16)}${val}`;
  const out: string[] = [
    field('Name', v.name),
    field('Namespace', v.namespace),
    field(
      'Status',
      v.status.phase === 'Allocated' ? 'Allocated' : `Pending (${v.status.code}): ${v.status.reason}`,
    ),
    field(
      'Addresses',
      v.addresses.length ? `${v.addresses.join(', ')}${v.pool ? ` (pool ${v.pool})` : ''}` : '-',
    ),
    field('Secondary', v.secondaryAddresses.join(', ') || '-'),
    field('Ports', v.ports.map((p) => `${p.port}/${p.protocol} -> ${p.targetPort}`).join(', ')),
    field('Mode', `${v.mode}, select ${v.algorithm}, health check ${v.healthCheck}`),
    field('Source ranges', v.sourceRanges.join(', ') || 'any'),
    field(
      'Data plane',
      v.dataplane
        ? `Failed (${v.dataplane.kind}): ${v.dataplane.reason}`
        : d.dataplane && !d.dataplane.kernel
          ? 'not managed on this node (--dataplane off)'
          : 'programmed',
    ),
    field('Traffic', v.counters ? `${v.counters.packets} packets, ${humanBytes(v.counters.bytes)}` : '-'),
  ];
  const spec = d.object?.spec;
  if (spec !== undefined) out.push('Spec:', indent(stringify(spec)));
  out.push('Endpoints:');
  if (v.endpoints.length === 0) out.push('  <none>');
  else
    out.push(
      indent(
        renderTable(
          ['PORT', 'ENDPOINT', 'TARGET PORT', 'WEIGHT', 'STATE', 'PACKETS', 'BYTES'],
          v.endpoints.map((e) => [
            `${e.servicePort}/${e.protocol}`,
            e.address,
            String(e.port),
            String(e.weight),
            e.state,
            ...portCounterCells(e),
          ]),
        ),
      ),
    );
  out.push('Announcements:');
  const ann = announcements(d).flatMap(announcementText);
  const notes = (d.bgp?.notes ?? []).filter(
    (n) => n.startsWith(`${v.name}:`) || n.startsWith(`${v.namespace}/${v.name}:`),
  );
  if (ann.length === 0 && notes.length === 0)
    out.push('  <none> (no BGP advertisement or Layer 2 ownership for its addresses)');
  for (const l of ann) out.push(`  ${l}`);
  for (const n of notes) out.push(`  BGP note: ${n}`);
  out.push('Events:');
  const ev = d.events ?? [];
  if (ev.length === 0) out.push('  <none>');
  else
    out.push(
      indent(
        renderTable(
          ['AGE', 'TYPE', 'REASON', 'MESSAGE'],
          ev.map((e) => [
            `${age(now - e.at)}${e.count > 1 ? ` (x${e.count})` : ''}`,
            e.type,
            e.reason,
            e.message,
          ]),
        ),
      ),
    );
  return out.join('\n') + '\n';
}
