// Pure compiler: desired services → the complete state of ferrolb's nft table.
//
// Layout (per family f ∈ {4, 6}):
//   prerouting/output (nat): `ip daddr . meta l4proto . th dport vmap @svc4` — O(1) dispatch to one
//     selection chain per (service, protocol, port, family). nat chains only see a connection's first
//     packet, so selection is `ct state new` by construction and established flows keep their
//     conntrack binding whatever we change later.
//   s_<sp>: picks an endpoint: `dnat … numgen inc|jhash … map @m_<sp>` (slot → address . port), or
//     for persist a per-endpoint affinity set lookup before a weighted pick.
//   postrouting (nat): fullnat SNAT, keyed on the connection's original destination
//     (`ct original ip daddr . l4proto . ct original proto-dst` → source address).
//   forward (filter): counted set elements per service port and per endpoint, matched by conntrack tuple,
//     so every packet of both directions is counted (not just the first).
//   srcpre/srcout/guardpre (filter): source ranges, see filter.ts.
// base.ts holds the fixed objects, fragment.ts one service's share, incremental.ts the assembly that
// recompiles only what changed; compile() is that assembly run once from empty.
import type { CompileOptions, DataplaneGuard, DataplaneService } from '../types.js';
import type { CounterRef } from './fragment.js';
import { IncrementalCompiler } from './incremental.js';
import type { TableState } from './table.js';

export { HASH_SEED, DEFAULT_PERSIST_SECONDS, SLOT_SHARDS, counterKey, type CounterRef } from './fragment.js';

export interface Compiled {
  readonly state: TableState;
  /** counterKey(set, element) → what that element's counter counts. */
  readonly counters: ReadonlyMap<string, CounterRef>;
  /** Canonical service addresses (for VIP plumbing). */
  readonly addresses: readonly string[];
}

/**
 * Compiles the whole table. `guards`: services the SCTP engine translates, filtered by source here
 * (see filter.ts). Throws DataplaneInputError naming the service, field and value.
 */
export function compile(
  services: readonly DataplaneService[],
  opts: CompileOptions = {},
  guards: readonly DataplaneGuard[] = [],
): Compiled {
  const c = new IncrementalCompiler(opts);
  c.update(services, guards);
  return { state: c.state, counters: new Map(c.counterRefs()), addresses: c.addresses() };
}
