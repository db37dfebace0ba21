// Which services the data plane could not program, and why: the containment's memory. A failed
// service is not retried with the same content (its last good version stays in the kernel); once
// its content changes it is tried again. VIP failures are re-evaluated by every VIP sync.
import { canonicalIp } from '../net/ip.js';
import { servicePortId } from './compiler/names.js';
import type { DataplaneService } from './types.js';
import type { VipFailure } from './vip.js';

/** Why one service is not (fully) programmed. */
export interface ServiceFailure {
  readonly service: string;
  /** input: the compiler refused it; rules: nft refused its rules; vip: an address not plumbed. */
  readonly kind: 'input' | 'rules' | 'vip';
  readonly reason: string;
  /** The service's content when it failed: it is retried once that changes. */
  readonly sig: string;
}

/** Content identity of a service for retry decisions (live connection counts left out). */
export const serviceSig = (s: DataplaneService): string =>
  JSON.stringify({ ...s, endpoints: s.endpoints.map(({ connections: _c, ...e }) => e) });

const canonicalOrSelf = (a: string): string => {
  try {
    return canonicalIp(a);
  } catch {
    return a;
  }
};

/** Whether a rejected script/error text names one of the service's objects (its chains and maps). */
export function mentions(text: string, s: DataplaneService): boolean {
  for (const p of s.ports)
    for (const f of [4, 6] as const)
      if (text.includes(servicePortId(s.name, p.protocol, p.port, f))) return true;
  return false;
}

export class FailureBook {
  private readonly failures = new Map<string, ServiceFailure>();

  get all(): ReadonlyMap<string, ServiceFailure> {
    return this.failures;
  }

  has(name: string): boolean {
    return this.failures.has(name);
  }

  record(s: DataplaneService, kind: ServiceFailure['kind'], reason: string): ServiceFailure {
    const f: ServiceFailure = { service: s.name, kind, reason, sig: serviceSig(s) };
    this.failures.set(s.name, f);
    return f;
  }

  /**
   * The services to program: a service that failed before with the same content is replaced by its
   * last good version (or left out); a changed one is tried again; deleted ones are forgotten.
   * O(failures) when nothing failed before.
   */
  screen(
    input: readonly DataplaneService[],
    lastGood: () => ReadonlyMap<string, DataplaneService>,
  ): DataplaneService[] {
    if (this.failures.size === 0) return [...input];
    const prev = lastGood();
    const names = new Set(input.map((s) => s.name));
    for (const n of this.failures.keys()) if (!names.has(n)) this.failures.delete(n);
    const out: DataplaneService[] = [];
    for (const s of input) {
      const f = this.failures.get(s.name);
      if (f && f.sig !== serviceSig(s)) this.failures.delete(s.name);
      else if (f && f.kind !== 'vip') {
        const old = prev.get(s.name);
        if (old) out.push(old);
        continue;
      }
      out.push(s);
    }
    return out;
  }

  /** Replaces the VIP failures with those of this sync; returns the services newly failing. */
  noteVips(applied: readonly DataplaneService[], failed: readonly VipFailure[]): ServiceFailure[] {
    const before = new Set<string>();
    for (const [n, f] of this.failures)
      if (f.kind === 'vip') {
        before.add(n);
        this.failures.delete(n);
      }
    if (failed.length === 0) return [];
    const why = new Map(failed.map((f) => [canonicalOrSelf(f.address), f.reason]));
    const out: ServiceFailure[] = [];
    for (const s of applied) {
      const bad = s.addresses.filter((a) => why.has(canonicalOrSelf(a)));
      if (bad.length === 0 || this.failures.has(s.name)) continue;
      const reason = bad.map((a) => `VIP ${a} not plumbed: ${why.get(canonicalOrSelf(a))}`).join('; ');
      const f = this.record(s, 'vip', reason);
      if (!before.has(s.name)) out.push(f);
    }
    return out;
  }
}
