// `ferroctl get ct` (like loxicmd get ct): ferrolb's service connections as the kernel holds them,
// with their NAT mapping and where the entry came from (this node's traffic or a peer's replica).
import type { CtFlow } from '../dataplane/ct-replica.js';

export interface CtEntryView {
  readonly protocol: 'tcp' | 'udp';
  readonly state: string;
  /** client address:port → service address:port (the original direction). */
  readonly client: string;
  readonly service: string;
  /** Where the flow goes: the endpoint (reply source). */
  readonly endpoint: string;
  /** The source the endpoint sees (reply destination): the SNAT address under fullNAT. */
  readonly source: string;
  readonly timeoutSeconds: number;
  readonly assured: boolean;
  /** 'replica' when a peer replicated it here (standby state), 'local' otherwise. */
  readonly origin: 'local' | 'replica';
}

export interface CtView {
  readonly items: readonly CtEntryView[];
  /** Why the list is empty or partial (no data plane, conntrack failed). */
  readonly error?: string;
}

const hp = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

export function ctEntry(f: CtFlow, replica: boolean): CtEntryView {
  return {
    protocol: f.protocol,
    state: f.state || (f.assured ? 'ASSURED' : f.unreplied ? 'UNREPLIED' : ''),
    client: hp(f.orig.src, f.orig.sport),
    service: hp(f.orig.dst, f.orig.dport),
    endpoint: hp(f.reply.src, f.reply.sport),
    source: hp(f.reply.dst, f.reply.dport),
    timeoutSeconds: f.timeout,
    assured: f.assured,
    origin: replica ? 'replica' : 'local',
  };
}

export function ctRows(v: CtView): { headers: string[]; rows: string[][] } {
  return {
    headers: ['PROTO', 'CLIENT', 'SERVICE', 'ENDPOINT', 'SOURCE', 'STATE', 'TIMEOUT', 'ORIGIN'],
    rows: v.items.map((e) => [
      e.protocol,
      e.client,
      e.service,
      e.endpoint,
      e.source,
      e.state,
      `${e.timeoutSeconds}s`,
      e.origin,
    ]),
  };
}
