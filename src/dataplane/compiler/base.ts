// The table's fixed objects: the hooks, the dispatch and SNAT maps, and the counted sets and chains.
import { addrType, fam, FAMILIES } from './fragment.js';
import { names } from './names.js';
import { mapSig, rule, type TableChain, type TableMap, type TableRule } from './table.js';

class Builder {
  readonly chains = new Map<string, TableChain>();
  readonly maps = new Map<string, TableMap>();
  chain(name: string, rules: string[], hook = ''): void {
    this.chains.set(name, { name, hook, rules: rules.map(rule) as TableRule[] });
  }
  map(name: string, m: Omit<TableMap, 'name' | 'elements'>): void {
    this.maps.set(name, { name, ...m, elements: new Map() });
  }
}

export function baseObjects(counters: boolean): {
  chains: TableChain[];
  maps: TableMap[];
  counters: Map<string, string>;
} {
  const b = new Builder();
  baseChains(b, counters);
  return { chains: [...b.chains.values()], maps: [...b.maps.values()], counters: new Map() };
}

function baseChains(b: Builder, counters: boolean): void {
  const dispatch = FAMILIES.map(
    (f) => `${fam(f)} daddr . meta l4proto . th dport vmap @${names.dispatch(f)}`,
  );
  b.chain('prerouting', dispatch, 'nat prerouting -100 accept');
  b.chain('output', dispatch, 'nat output -100 accept');
  const snat: string[] = [];
  for (const f of FAMILIES) {
    b.map(names.dispatch(f), {
      decl: `type ${addrType(f)} . inet_proto . inet_service : verdict;`,
      sig: mapSig('map', `${addrType(f)} . inet_proto . inet_service`, 'verdict'),
      dynamic: false,
    });
    b.map(names.snat(f), {
      decl: `type ${addrType(f)} . inet_proto . inet_service : ${addrType(f)};`,
      sig: mapSig('map', `${addrType(f)} . inet_proto . inet_service`, addrType(f)),
      dynamic: false,
    });
    for (const p of ['tcp', 'udp', 'sctp'])
      snat.push(
        `meta l4proto ${p} ct status dnat snat ${fam(f)} to ct original ${fam(f)} daddr . meta l4proto . ` +
          `ct original proto-dst map @${names.snat(f)}`,
      );
  }
  b.chain('postrouting', snat, 'nat postrouting 100 accept');
  if (!counters) return;
  const fwd: string[] = [];
  const jumps: string[] = [];
  for (const f of FAMILIES) {
    // Sets with per-element counters: one object per family instead of a named counter per
    // service port and endpoint (90k objects for 10k services × 8 endpoints).
    const key = `${addrType(f)} . inet_proto . inet_service`;
    b.map(names.svcCounters(f), {
      decl: `type ${key}; counter;`,
      sig: mapSig('set', key, ''),
      dynamic: false,
    });
    b.map(names.epCounters(f), {
      decl: `type ${key} . ${addrType(f)}; counter;`,
      sig: mapSig('set', `${key} . ${addrType(f)}`, ''),
      dynamic: false,
    });
    // One chain per family and protocol, reached by a single vmap lookup: every forwarded packet
    // pays one jump and two set lookups, not a walk over rules for the other protocols.
    const orig = `ct original ${fam(f)} daddr . meta l4proto . ct original proto-dst`;
    for (const p of ['tcp', 'udp', 'sctp']) {
      jumps.push(`${f === 4 ? 'ipv4' : 'ipv6'} . ${p} : jump ${names.countChain(f, p)}`);
      b.chain(names.countChain(f, p), [
        `meta l4proto ${p} ${orig} @${names.svcCounters(f)}`,
        `meta l4proto ${p} ${orig} . ct reply ${fam(f)} saddr @${names.epCounters(f)}`,
      ]);
    }
  }
  fwd.push(`ct status dnat meta nfproto . meta l4proto vmap { ${jumps.join(', ')} }`);
  b.chain('forward', fwd, 'filter forward -10 accept');
}
