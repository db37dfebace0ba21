// Rows for `ferroctl get sctp` (and the SCTP part of `get ct`). Pure: AssociationView[] → headers +
// string rows; the CLI renders them with its own table printer. `wide` gives one row per path,
// association cells blank on continuation rows (the loxicmd convention users know).
import type { AssociationView } from './engine/types.js';

export interface SctpRows {
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
const age = (ms: number) =>
  ms < 120_000
    ? `${Math.floor(ms / 1000)}s`
    : ms < 7_200_000
      ? `${Math.floor(ms / 60_000)}m`
      : `${Math.floor(ms / 3_600_000)}h`;

export function sctpRows(views: readonly AssociationView[], wide = false): SctpRows {
  const head = (a: AssociationView) => [
    String(a.id),
    a.service,
    a.state,
    `${a.clientAddresses.join(',')}:${a.clientPort}`,
    `${a.serviceAddresses.join(',')}:${a.servicePort}`,
    `${a.endpoint.join(',')}:${a.endpointPort}`,
    `${hex(a.clientVtag)}/${hex(a.endpointVtag)}`,
  ];
  const base = ['ID', 'SERVICE', 'STATE', 'CLIENT', 'SERVICE ADDRS', 'ENDPOINT', 'VTAGS (C/E)'];
  if (!wide) {
    return {
      headers: [...base, 'PATHS', 'PACKETS', 'AGE'],
      rows: views.map((a) => [
        ...head(a),
        `${a.paths.filter((p) => p.state === 'active').length}/${a.paths.length}`,
        String(a.paths.reduce((n, p) => n + p.packets, 0)),
        age(a.ageMs),
      ]),
    };
  }
  const rows: string[][] = [];
  for (const a of views) {
    const h = head(a);
    if (a.paths.length === 0) rows.push([...h, '-', '-', '-', '-', '-', '-']);
    a.paths.forEach((p, i) => {
      rows.push([
        ...(i === 0 ? h : h.map(() => '')),
        p.side,
        `${p.peer} → ${p.vip}`,
        p.mapsTo,
        p.state,
        String(p.packets),
        String(p.bytes),
      ]);
    });
  }
  return { headers: [...base, 'SIDE', 'PATH', 'MAPS TO', 'PATH STATE', 'PACKETS', 'BYTES'], rows };
}
