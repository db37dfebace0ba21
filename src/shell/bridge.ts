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
  // Runs on every health change: pick the (few) multihomed services first, sort only those.
  const multihomed = [...snap.state.loadBalancers.values()].filter((lb) => {
    const alloc = snap.allocations.get(lb.meta.name);
    return alloc !== undefined && isMultihomedSctp(lb, alloc.secondaryAddresses);
  });
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
export function dataplaneServices(snap: Snapshot, health: HealthLookup): DataplaneService[] {
  const out: DataplaneService[] = [];
  for (const lb of [...snap.state.loadBalancers.values()].sort(byName)) {
    const alloc = snap.allocations.get(lb.meta.name);
    if (snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !alloc || alloc.addresses.length === 0)
      continue;
    // Multihomed SCTP goes through the SCTP engine, not nft DNAT (which would translate only the
    // primary path and leak addresses in INIT/INIT-ACK); the SCTP shell plumbs its VIPs itself.
    const ports = isMultihomedSctp(lb, alloc.secondaryAddresses)
      ? lb.ports.filter((p) => p.protocol !== 'SCTP')
      : lb.ports;
    if (ports.length === 0) continue;
    const states = lb.endpoints.map((e) => health(lb.meta.name, e.address) ?? defaultEndpointState(lb));
    const stateKey = states.join(',');
    const memo = converted.get(lb);
    if (memo && memo.alloc === alloc && memo.states === stateKey) {
      out.push(memo.service);
      continue;
    }
    const service: DataplaneService = {
      name: lb.meta.name,
      addresses: alloc.addresses,
      ports: ports.map((p) => ({ port: p.port, protocol: p.protocol, targetPort: p.targetPort })),
      mode: lb.mode,
      algorithm: lb.algorithm,
      persistTimeoutSeconds: lb.persistTimeoutSeconds,
      flushOnInactive: lb.flushOnInactive,
      ...(lb.snatAddresses.length > 0 ? { snatAddresses: lb.snatAddresses } : {}),
      ...(lb.sourceRanges.length > 0 ? { sourceRanges: lb.sourceRanges } : {}),
      endpoints: lb.endpoints.map((e, i) => ({ address: e.address, weight: e.weight, state: states[i]! })),
    };
    converted.set(lb, { alloc, states: stateKey, service });
    out.push(service);
  }
  return out;
}

/**
 * The last conversion per LoadBalancer object: an unchanged spec, allocation and endpoint states give
 * the same DataplaneService object, which the compiler recognises without comparing its fields.
 */
const converted = new WeakMap<
  LoadBalancerSpec,
  { alloc: unknown; states: string; service: DataplaneService }
>();

/**
 * Source filters for the services the SCTP engine carries (untracked packets, translated before the
 * nft table's own filter would see them): every address, primary and secondary, on every SCTP port.
 */
export function dataplaneGuards(snap: Snapshot): DataplaneGuard[] {
  const out: DataplaneGuard[] = [];
  for (const lb of snap.state.loadBalancers.values()) {
    const alloc = snap.allocations.get(lb.meta.name);
    if (lb.sourceRanges.length === 0 || snap.status.get(lb.meta.name)?.phase !== 'Allocated' || !alloc)
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
  for (const lb of snap.state.loadBalancers.values()) {
    if (lb.healthCheck.type === 'none' || snap.status.get(lb.meta.name)?.phase !== 'Allocated') continue;
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
