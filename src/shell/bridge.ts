// Pure mappings from a Snapshot (+ endpoint health) to the inputs of the data plane and the probe
// scheduler. Only Allocated services reach the kernel: a Pending service has no address to serve.
import type { DataplaneGuard, DataplaneService } from '../dataplane/types.js';
import type { ProbeTarget } from '../probes/scheduler.js';
import type { Snapshot } from '../state/snapshot.js';
import { defaultEndpointState, type HealthLookup } from '../state/views.js';
import type { LoadBalancerSpec } from '../model/types.js';
import type { SctpService } from '../sctp/index.js';
import { parseIp } from '../net/ip.js';

/**
 * A service carried by the SCTP multihoming engine (src/shell/sctp.ts) instead of nft DNAT: fullnat,
 * at least one SCTP port and at least one allocated secondary address.
 */
export function isMultihomedSctp(lb: LoadBalancerSpec, secondaryAddresses: readonly string[]): boolean {
  return (
    lb.mode === 'fullnat' && secondaryAddresses.length > 0 && lb.ports.some((p) => p.protocol === 'SCTP')
  );
}

/**
 * Engine input: one SctpService per SCTP port of every Allocated multihomed service; primary VIPs
 * first, then the secondaries. Only active endpoints are listed (they alone take new associations;
 * existing associations keep their endpoint until they end).
 */
export function sctpServices(snap: Snapshot, health: HealthLookup): SctpService[] {
  const out: SctpService[] = [];
  // Runs on every health change: the (few) multihomed services come from the index, sorted alone.
  const multihomed = [...serviceIndex(snap).multihomed]
    .map((n) => snap.state.loadBalancers.get(n))
    .filter((lb): lb is LoadBalancerSpec => lb !== undefined);
  for (const lb of multihomed.sort((a, b) => a.meta.name.localeCompare(b.meta.name))) {
    const alloc = snap.allocations.get(lb.meta.name);
    if (snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !alloc || alloc.addresses.length === 0)
      continue;
    const endpoints = lb.endpoints.filter(
      (e) => (health(lb.meta.name, e.address) ?? defaultEndpointState(lb)) === 'active',
    );
    for (const p of lb.ports) {
      if (p.protocol !== 'SCTP') continue;
      out.push({
        name: lb.meta.name,
        vips: [...alloc.addresses, ...alloc.secondaryAddresses].map(parseIp),
        port: p.port,
        endpoints: endpoints.map((e) => ({ addresses: [parseIp(e.address)], port: p.targetPort })),
      });
    }
  }
  return out;
}

const byName = (a: { meta: { name: string } }, b: { meta: { name: string } }) =>
  a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;

/**
 * Data plane input, in name order. Runs on every change (the compiler skips the services whose
 * input is unchanged), so it stays a plain O(n) pass: code-unit order, no locale collation.
 */
export function dataplaneServices(
  snap: Snapshot,
  health: HealthLookup,
  /** Changes with `health`'s verdicts of the service: an unchanged one is not looked up again. */
  healthVersion?: (service: string) => number,
): DataplaneService[] {
  const out: DataplaneService[] = [];
  for (const lb of sortedLoadBalancers(snap.state.loadBalancers)) {
    const s = dataplaneService(snap, lb, health, healthVersion);
    if (s) out.push(s);
  }
  return out;
}

/** One LoadBalancer's data plane input, or undefined when the kernel does not serve it (memoised). */
export function dataplaneService(
  snap: Snapshot,
  lb: LoadBalancerSpec,
  health: HealthLookup,
  healthVersion?: (service: string) => number,
): DataplaneService | undefined {
  const alloc = snap.allocations.get(lb.meta.name);
  if (snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !alloc || alloc.addresses.length === 0)
    return undefined;
  // Multihomed SCTP goes through the SCTP engine, not nft DNAT (which would translate only the
  // primary path and leak addresses in INIT/INIT-ACK); the SCTP shell plumbs its VIPs itself.
  const ports = isMultihomedSctp(lb, alloc.secondaryAddresses)
    ? lb.ports.filter((p) => p.protocol !== 'SCTP')
    : lb.ports;
  if (ports.length === 0) return undefined;
  const memo = converted.get(lb);
  const version = healthVersion?.(lb.meta.name);
  // 10k services × 8 endpoints: 80k lookups per change without the version.
  if (memo && version !== undefined && memo.alloc === alloc && memo.version === version) return memo.service;
  const states = lb.endpoints.map((e) => health(lb.meta.name, e.address) ?? defaultEndpointState(lb));
  const stateKey = states.join(',');
  if (memo && memo.alloc === alloc && memo.states === stateKey) {
    memo.version = version;
    return memo.service;
  }
  const service: DataplaneService = {
    name: lb.meta.name,
    addresses: alloc.addresses,
    ports: ports.map((p) => ({ port: p.port, protocol: p.protocol, targetPort: p.targetPort })),
    mode: lb.mode,
    algorithm: lb.algorithm,
    persistTimeoutSeconds: lb.persistTimeoutSeconds,
    ...(lb.maglevTableSize !== undefined ? { maglevTableSize: lb.maglevTableSize } : {}),
    flushOnInactive: lb.flushOnInactive,
    ...(lb.snatAddresses.length > 0 ? { snatAddresses: lb.snatAddresses } : {}),
    ...(lb.sourceRanges.length > 0 ? { sourceRanges: lb.sourceRanges } : {}),
    endpoints: lb.endpoints.map((e, i) => ({ address: e.address, weight: e.weight, state: states[i]! })),
  };
  converted.set(lb, { alloc, states: stateKey, version, service });
  return service;
}

/** Name order per map object: a health change (same snapshot) neither copies nor sorts 10k again. */
const sorted = new WeakMap<ReadonlyMap<string, LoadBalancerSpec>, readonly LoadBalancerSpec[]>();
function sortedLoadBalancers(m: ReadonlyMap<string, LoadBalancerSpec>): readonly LoadBalancerSpec[] {
  let list = sorted.get(m);
  if (!list) sorted.set(m, (list = [...m.values()].sort(byName)));
  return list;
}

/**
 * The last conversion per LoadBalancer object: an unchanged spec, allocation and endpoint states give
 * the same DataplaneService object, which the compiler recognises without comparing its fields.
 */
const converted = new WeakMap<
  LoadBalancerSpec,
  { alloc: unknown; states: string; version: number | undefined; service: DataplaneService }
>();

/**
 * Source filters for the services the SCTP engine carries (untracked packets, translated before the
 * nft table's own filter would see them): every address, primary and secondary, on every SCTP port.
 */
export function dataplaneGuards(snap: Snapshot): DataplaneGuard[] {
  const out: DataplaneGuard[] = [];
  for (const name of serviceIndex(snap).multihomed) {
    const lb = snap.state.loadBalancers.get(name);
    const alloc = snap.allocations.get(name);
    if (!lb || lb.sourceRanges.length === 0 || snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !alloc)
      continue;
    if (!isMultihomedSctp(lb, alloc.secondaryAddresses)) continue;
    out.push({
      name: lb.meta.name,
      addresses: [...alloc.addresses, ...alloc.secondaryAddresses],
      ports: lb.ports
        .filter((p) => p.protocol === 'SCTP')
        .map((p) => ({ port: p.port, protocol: p.protocol })),
      sourceRanges: lb.sourceRanges,
      endpoints: lb.endpoints.map((e) => e.address),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** One probe target per (service, endpoint); the probe port defaults to the first port's target. */
export function probeTargets(snap: Snapshot): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  for (const name of serviceIndex(snap).probed) {
    const lb = snap.state.loadBalancers.get(name);
    if (!lb || lb.healthCheck.type === 'none' || snap.status.get(name)?.phase !== 'Allocated') continue;
    const hc = lb.healthCheck;
    for (const e of lb.endpoints) {
      out.push({
        service: lb.meta.name,
        endpoint: e.address,
        targetPort: lb.ports[0]?.targetPort ?? 0,
        check: {
          type: hc.type,
          ...(hc.port !== undefined ? { port: hc.port } : {}),
          path: hc.path,
          intervalMs: hc.intervalMs,
          timeoutMs: hc.timeoutMs,
          unhealthyThreshold: hc.unhealthyThreshold,
          healthyThreshold: hc.healthyThreshold,
          ...(hc.expectStatus ? { expectStatus: hc.expectStatus } : {}),
          ...(hc.udpSilence ? { udpSilence: hc.udpSilence } : {}),
          ...(hc.udpPayload !== undefined ? { udpPayload: hc.udpPayload } : {}),
        },
      });
    }
  }
  return out;
}

/** Per snapshot, the few services most passes care about, so they need not look at every one. */
export interface ServiceIndex {
  /** Services the SCTP engine carries (multihomed SCTP with an allocation). */
  readonly multihomed: ReadonlySet<string>;
  /** Services with a health check. */
  readonly probed: ReadonlySet<string>;
}
const indexes = new WeakMap<Snapshot, ServiceIndex>();

/**
 * The index of `snap`, derived in O(change) from `before`'s when `snap` records its changes against
 * it (the runtime indexes every snapshot it swaps in, so the chain stays warm); a scan otherwise.
 */
export function serviceIndex(snap: Snapshot, before?: Snapshot): ServiceIndex {
  const hit = indexes.get(snap);
  if (hit) return hit;
  const prev = before && snap.changes?.since === before.generation ? indexes.get(before) : undefined;
  const multihomed = new Set<string>(prev?.multihomed ?? []);
  const probed = new Set<string>(prev?.probed ?? []);
  const names = prev && snap.changes ? snap.changes.services : snap.state.loadBalancers.keys();
  for (const name of names) {
    const lb = snap.state.loadBalancers.get(name);
    const alloc = snap.allocations.get(name);
    if (lb && alloc && isMultihomedSctp(lb, alloc.secondaryAddresses)) multihomed.add(name);
    else multihomed.delete(name);
    if (lb && lb.healthCheck.type !== 'none') probed.add(name);
    else probed.delete(name);
  }
  const index = { multihomed, probed };
  indexes.set(snap, index);
  return index;
}
