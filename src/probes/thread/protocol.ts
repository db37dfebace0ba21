// Messages between the main thread and the probe worker (pure), and the diff that keeps what is
// posted proportional to what changed: an unchanged target (same check object or same content) is
// not sent again.
import type { EndpointState, HealthCheckConfig } from '../types.js';
import { targetKey, type ProbeTarget } from '../scheduler.js';

export class ProbeProtocolError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`probe thread message: ${field}: ${detail}`);
    this.name = 'ProbeProtocolError';
  }
}

export type ToProbes =
  | { readonly type: 'patch'; readonly upsert: readonly ProbeTarget[]; readonly remove: readonly string[] }
  | { readonly type: 'stop' };

export type FromProbes =
  | {
      readonly type: 'change';
      readonly service: string;
      readonly endpoint: string;
      readonly state: EndpointState;
      readonly reason: string;
      /** checkKey() of the check that gave the verdict: a verdict of a check replaced meanwhile is dropped. */
      readonly check: string;
    }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopped' };

const STATES: readonly string[] = ['active', 'inactive', 'unknown'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function target(v: unknown, i: number): ProbeTarget {
  if (!isObj(v)) throw new ProbeProtocolError(`upsert[${i}]`, 'expected an object');
  if (typeof v.service !== 'string')
    throw new ProbeProtocolError(`upsert[${i}].service`, 'expected a string');
  if (typeof v.endpoint !== 'string')
    throw new ProbeProtocolError(`upsert[${i}].endpoint`, 'expected a string');
  if (typeof v.targetPort !== 'number')
    throw new ProbeProtocolError(`upsert[${i}].targetPort`, 'expected a number');
  if (!isObj(v.check) || typeof v.check.type !== 'string')
    throw new ProbeProtocolError(`upsert[${i}].check`, 'expected a health check');
  return v as unknown as ProbeTarget;
}

export function parseToProbes(m: unknown): ToProbes {
  if (!isObj(m)) throw new ProbeProtocolError('message', 'expected an object');
  if (m.type === 'stop') return { type: 'stop' };
  if (m.type !== 'patch')
    throw new ProbeProtocolError('type', `unknown message type ${JSON.stringify(m.type)}`);
  if (!Array.isArray(m.upsert)) throw new ProbeProtocolError('upsert', 'expected an array');
  if (!Array.isArray(m.remove) || m.remove.some((k) => typeof k !== 'string'))
    throw new ProbeProtocolError('remove', 'expected an array of target keys');
  return { type: 'patch', upsert: m.upsert.map(target), remove: m.remove as string[] };
}

export function parseFromProbes(m: unknown): FromProbes {
  if (!isObj(m)) throw new ProbeProtocolError('message', 'expected an object');
  switch (m.type) {
    case 'change':
      for (const f of ['service', 'endpoint', 'reason', 'check'])
        if (typeof m[f] !== 'string') throw new ProbeProtocolError(f, 'expected a string');
      if (typeof m.state !== 'string' || !STATES.includes(m.state))
        throw new ProbeProtocolError('state', `expected active, inactive or unknown, got ${String(m.state)}`);
      return m as unknown as FromProbes;
    case 'error':
      if (typeof m.message !== 'string') throw new ProbeProtocolError('message', 'expected a string');
      return { type: 'error', message: m.message };
    case 'stopped':
      return { type: 'stopped' };
    default:
      throw new ProbeProtocolError('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
}

const sameCheck = (a: HealthCheckConfig, b: HealthCheckConfig): boolean =>
  a === b || JSON.stringify(a) === JSON.stringify(b);

export const sameTarget = (a: ProbeTarget, b: ProbeTarget): boolean =>
  a.targetPort === b.targetPort && sameCheck(a.check, b.check);

/** What to post so that the worker probes exactly `next` (keyed, duplicates already refused). */
export function diffTargets(
  prev: ReadonlyMap<string, ProbeTarget>,
  next: ReadonlyMap<string, ProbeTarget>,
): { upsert: ProbeTarget[]; remove: string[] } {
  const upsert: ProbeTarget[] = [];
  const remove: string[] = [];
  for (const key of prev.keys()) if (!next.has(key)) remove.push(key);
  for (const [key, t] of next) {
    const p = prev.get(key);
    if (!p || !sameTarget(p, t)) upsert.push(t);
  }
  return { upsert, remove };
}

export { targetKey };
