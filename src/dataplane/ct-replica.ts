// Kernel conntrack replication, the pure part: parse `conntrack -E/-L -o extended` lines into
// flows with both tuples (so the NAT mapping travels with them: DNAT = reply source is the
// endpoint, fullNAT = reply destination is the SNAT address), keep only flows to ferrolb's
// services, encode them as SyncRecords, and build the `conntrack -I`/`-U`/`-D` arguments a peer
// installs them with.
import type { SyncRecord } from '../cluster/sync-contract.js';

export const CT_RECORD_VERSION = 1;

export interface Tuple {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

export interface CtFlow {
  readonly family: 'ipv4' | 'ipv6';
  readonly protocol: 'tcp' | 'udp';
  /** TCP state (ESTABLISHED, ...); empty for UDP. */
  readonly state: string;
  readonly timeout: number;
  readonly assured: boolean;
  /** No reply seen yet ([UNREPLIED]); absent in records from before it was carried. */
  readonly unreplied?: boolean;
  readonly orig: Tuple;
  readonly reply: Tuple;
}

export type CtEventType = 'NEW' | 'UPDATE' | 'DESTROY';

export interface CtEvent {
  readonly type: CtEventType;
  readonly flow: CtFlow;
}

const EVENT = /^\s*\[(NEW|UPDATE|DESTROY)\]\s+/;

/** One line of `conntrack -L -o extended` (no event tag) or `-E -o extended`; undefined if not TCP/UDP. */
export function parseCtLine(line: string): CtEvent | undefined {
  const m = EVENT.exec(line);
  const type = (m?.[1] as CtEventType | undefined) ?? 'NEW';
  const toks = line
    .slice(m ? m[0].length : 0)
    .trim()
    .split(/\s+/);
  // ipv4 2 tcp 6 <timeout> [STATE] src= dst= sport= dport= [UNREPLIED] src= dst= sport= dport= ...
  const family = toks[0];
  const protocol = toks[2];
  if ((family !== 'ipv4' && family !== 'ipv6') || (protocol !== 'tcp' && protocol !== 'udp'))
    return undefined;
  const timeout = Number(toks[4]);
  const state = toks[5] && /^[A-Z_]+$/.test(toks[5]) ? toks[5] : '';
  const vals = (k: string) => toks.filter((t) => t.startsWith(`${k}=`)).map((t) => t.slice(k.length + 1));
  const [src, dst, sport, dport] = [vals('src'), vals('dst'), vals('sport'), vals('dport')];
  if (src.length < 2 || dst.length < 2 || sport.length < 2 || dport.length < 2) return undefined;
  const tuple = (i: number): Tuple => ({
    src: src[i] as string,
    dst: dst[i] as string,
    sport: Number(sport[i]),
    dport: Number(dport[i]),
  });
  return {
    type,
    flow: {
      family,
      protocol,
      state,
      timeout: Number.isFinite(timeout) ? timeout : 0,
      assured: toks.includes('[ASSURED]'),
      unreplied: toks.includes('[UNREPLIED]'),
      orig: tuple(0),
      reply: tuple(1),
    },
  };
}

/** The flow's identity on every node: protocol and original tuple (what the client sends). */
export const flowKey = (f: CtFlow): string =>
  `${f.protocol} ${f.orig.src} ${f.orig.sport} ${f.orig.dst} ${f.orig.dport}`;

/** A service port ferrolb serves: "address|protocol|port". */
export const servicePortKey = (address: string, protocol: string, port: number): string =>
  `${address}|${protocol}|${port}`;

/** Only ferrolb's services' flows are replicated (never the host's own connections). */
export const isServiceFlow = (f: CtFlow, services: ReadonlySet<string>): boolean =>
  services.has(servicePortKey(f.orig.dst, f.protocol, f.orig.dport));

export function toRecord(e: CtEvent): SyncRecord {
  const key = flowKey(e.flow);
  if (e.type === 'DESTROY') return { key, deleted: true };
  return { key, data: Buffer.from(JSON.stringify({ v: CT_RECORD_VERSION, ...e.flow })) };
}

export class CtRecordError extends Error {
  constructor(key: string, detail: string) {
    super(`conntrack record "${key}": ${detail}`);
    this.name = 'CtRecordError';
  }
}

export function fromRecord(r: SyncRecord): CtFlow {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(Buffer.from(r.data ?? []).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CtRecordError(r.key, 'not JSON');
  }
  if (o.v !== CT_RECORD_VERSION)
    throw new CtRecordError(r.key, `version ${String(o.v)}, expected ${CT_RECORD_VERSION}`);
  const { v: _v, ...flow } = o;
  const f = flow as unknown as CtFlow;
  if (flowKey(f) !== r.key) throw new CtRecordError(r.key, 'key does not match the flow');
  return f;
}

const hostPort = (ip: string, port: number): string =>
  ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;

/**
 * Arguments for `conntrack -I` (insert) or `-U` (update) of a replicated flow.
 *
 * The reply tuple is never passed: the kernel makes the NAT binding from `--dst-nat`/`--src-nat`
 * against the inverse of the original tuple (what conntrackd does too, NFCT_SOPT_SETUP_REPLY), and
 * only then sets the NAT bits the nat hooks act on. Given the already translated reply tuple it finds
 * nothing to translate, sets no bit, and the flow reaches the local service address (a reset).
 */
export function installArgs(f: CtFlow, op: '-I' | '-U'): string[] {
  // No -f: conntrack -I refuses it and takes the family from the addresses.
  const a = [op, '-p', f.protocol];
  a.push(
    '-s',
    f.orig.src,
    '-d',
    f.orig.dst,
    '--sport',
    String(f.orig.sport),
    '--dport',
    String(f.orig.dport),
  );
  if (f.protocol === 'tcp' && f.state) a.push('--state', f.state);
  a.push('-t', String(Math.max(1, f.timeout)));
  // These bits can only be set (the kernel ignores NAT bits here); without SEEN_REPLY the standby
  // would classify the client's next packets as NEW.
  const status = [...(f.unreplied ? [] : ['SEEN_REPLY']), ...(f.assured ? ['ASSURED'] : [])];
  if (status.length > 0) a.push('-u', status.join(','));
  if (op === '-I') {
    if (f.reply.src !== f.orig.dst || f.reply.sport !== f.orig.dport)
      a.push('--dst-nat', hostPort(f.reply.src, f.reply.sport));
    if (f.reply.dst !== f.orig.src || f.reply.dport !== f.orig.sport)
      a.push('--src-nat', hostPort(f.reply.dst, f.reply.dport));
  }
  return a;
}

/** Arguments for `conntrack -D` of a flow by its key (a peer's DESTROY). */
export function deleteArgs(key: string): string[] | undefined {
  const [protocol, src, sport, dst, dport] = key.split(' ');
  if (!protocol || !src || !sport || !dst || !dport) return undefined;
  const family = src.includes(':') ? 'ipv6' : 'ipv4';
  return ['-D', '-f', family, '-p', protocol, '-s', src, '--sport', sport, '-d', dst, '--dport', dport];
}
