// Messages between the main thread and the SCTP carrier thread (pure, checked on arrival). Services
// carry IpAddr values ({ family, value: bigint }), which structured clone keeps.
import { MessagePort } from 'node:worker_threads';
import type { EngineLimits, SctpService } from '../engine/types.js';
import type { CarrierStatus } from '../shell/carrier.js';

export class SctpThreadProtocolError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`sctp thread message: ${field}: ${detail}`);
    this.name = 'SctpThreadProtocolError';
  }
}

export interface SctpWorkerData {
  readonly queueNum: number;
  readonly limits: Partial<EngineLimits>;
  readonly services: readonly SctpService[];
  readonly statusIntervalMs: number;
  /** Restarts after a death (the new worker adopts the fast path the dead one left). */
  readonly restart: number;
}

export type ToSctp =
  | { readonly type: 'services'; readonly services: readonly SctpService[] }
  /** Publish a status now (a reader must not see one up to statusIntervalMs old). */
  | { readonly type: 'status' }
  /** The Cluster's state-sync channel for SCTP (transferred; cluster/sync-contract.ts). */
  | { readonly type: 'sync'; readonly port: MessagePort }
  | { readonly type: 'stop' };

export type FromSctp =
  | { readonly type: 'started' }
  | { readonly type: 'start-failed'; readonly message: string }
  | { readonly type: 'status'; readonly status: CarrierStatus }
  | { readonly type: 'warn'; readonly msg: string; readonly err?: string }
  | { readonly type: 'stopped' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isAddr = (v: unknown): boolean =>
  isObj(v) && (v.family === 4 || v.family === 6) && typeof v.value === 'bigint';

export function checkServices(v: unknown): SctpService[] {
  if (!Array.isArray(v)) throw new SctpThreadProtocolError('services', 'expected an array');
  v.forEach((s: unknown, i) => {
    if (!isObj(s) || typeof s.name !== 'string')
      throw new SctpThreadProtocolError(`services[${i}].name`, 'expected a string');
    if (typeof s.port !== 'number')
      throw new SctpThreadProtocolError(`services[${i}].port`, 'expected a number');
    if (!Array.isArray(s.vips) || !s.vips.every(isAddr))
      throw new SctpThreadProtocolError(`services[${i}].vips`, 'expected IP addresses');
    if (
      !Array.isArray(s.endpoints) ||
      !s.endpoints.every(
        (e: unknown) =>
          isObj(e) && Array.isArray(e.addresses) && e.addresses.every(isAddr) && typeof e.port === 'number',
      )
    )
      throw new SctpThreadProtocolError(`services[${i}].endpoints`, 'expected [{ addresses, port }]');
  });
  return v as SctpService[];
}

export function parseToSctp(m: unknown): ToSctp {
  if (!isObj(m)) throw new SctpThreadProtocolError('message', 'expected an object');
  if (m.type === 'stop') return { type: 'stop' };
  if (m.type === 'status') return { type: 'status' };
  if (m.type === 'sync') {
    if (!(m.port instanceof MessagePort)) throw new SctpThreadProtocolError('port', 'expected a MessagePort');
    return { type: 'sync', port: m.port };
  }
  if (m.type === 'services') return { type: 'services', services: checkServices(m.services) };
  throw new SctpThreadProtocolError('type', `unknown message type ${JSON.stringify(m.type)}`);
}

export function parseFromSctp(m: unknown): FromSctp {
  if (!isObj(m)) throw new SctpThreadProtocolError('message', 'expected an object');
  switch (m.type) {
    case 'started':
    case 'stopped':
      return { type: m.type };
    case 'start-failed':
      if (typeof m.message !== 'string') throw new SctpThreadProtocolError('message', 'expected a string');
      return { type: 'start-failed', message: m.message };
    case 'status': {
      const s = m.status;
      if (!isObj(s) || !Array.isArray(s.associations) || !isObj(s.stats) || !isObj(s.writer))
        throw new SctpThreadProtocolError('status', 'expected { associations, stats, writer, counterPoll }');
      return { type: 'status', status: s as unknown as CarrierStatus };
    }
    case 'warn':
      if (typeof m.msg !== 'string') throw new SctpThreadProtocolError('msg', 'expected a string');
      return { type: 'warn', msg: m.msg, ...(typeof m.err === 'string' ? { err: m.err } : {}) };
    default:
      throw new SctpThreadProtocolError('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
}
