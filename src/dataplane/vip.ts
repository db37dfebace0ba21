// VIP plumbing: the node owns exactly the service addresses it serves (answers ARP for IPv4 on its
// links, replies from the VIP, accepts the fullnat return traffic), and lets them go when it stops.
//
// Two ways to own an address, both on ferrolb's own interface:
//   • 'route' (the data plane's default): one AnyIP local route per VIP in table local
//     (`local 10.200.0.10 dev ferrolb0 table local proto 250`). Inserting into the FIB trie costs
//     the same at 20k routes as at 10 (measured: 20k IPv4 routes 0.35 s, 20k IPv6 0.46 s).
//   • 'address': an interface address per VIP. The kernel keeps a device's addresses in a list that
//     every insertion walks, so n addresses cost O(n²) (measured: 10k 2.1 s, 20k 10.5 s, sys time).
// A route per VIP rather than per pool: a pool route would make the node answer (ARP, RST, ICMP)
// for every address of the pool, including those it does not serve. Adoption: a VIP held either way
// counts as held, so a restart after an upgrade keeps the addresses of the older version serving and
// only adds what is missing.
import { formatIp, tryParseIp, type IpAddr } from '../net/ip.js';
import { CommandError, must, type Runner } from './exec.js';

export const DEFAULT_VIP_INTERFACE = 'ferrolb0';
/** Route protocol marking ferrolb's local routes (unassigned in iproute2's rt_protos). */
export const VIP_ROUTE_PROTO = '250';

export type VipMode = 'route' | 'address';

export interface VipFailure {
  readonly address: string;
  readonly reason: string;
}

export interface VipSync {
  readonly added: string[];
  readonly removed: string[];
  /** Addresses that could not be plumbed (refused up front or by the kernel); the others were. */
  readonly failed: VipFailure[];
}

const prefixOf = (a: string) => (a.includes(':') ? 128 : 32);

const inNet = (ip: IpAddr, net: SpecialNet): boolean => {
  if (net.base.family !== ip.family) return false;
  const shift = net.base.family === 4 ? net.shift4 : net.shift6;
  return ip.value >> shift === net.base.value >> shift;
};

interface SpecialNet {
  readonly base: IpAddr;
  readonly shift4: bigint;
  readonly shift6: bigint;
  readonly what: string;
}

const SPECIAL_TEXT: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'in 0.0.0.0/8 ("this network")'],
  ['127.0.0.0', 8, 'loopback (127.0.0.0/8)'],
  ['169.254.0.0', 16, 'link-local (169.254.0.0/16)'],
  ['224.0.0.0', 4, 'multicast (224.0.0.0/4)'],
  ['255.255.255.255', 32, 'the limited broadcast address'],
  ['::', 128, 'the unspecified address (::)'],
  ['::1', 128, 'loopback (::1)'],
  ['::ffff:0:0', 96, 'IPv4-mapped (::ffff:0:0/96)'],
  ['fe80::', 10, 'link-local (fe80::/10)'],
  ['ff00::', 8, 'multicast (ff00::/8)'],
];
// Parsed once: screening 10k VIPs parsed these ten networks for every address (0.2 s at start).
const SPECIAL: readonly SpecialNet[] = SPECIAL_TEXT.map(([net, len, what]) => ({
  base: tryParseIp(net)!,
  shift4: BigInt(32 - len),
  shift6: BigInt(128 - len),
  what,
}));

/**
 * Why `address` can never be a service address the node owns, or undefined when it can. The kernel
 * takes a local route for `::`, `ff02::1` or `0.0.0.0` without complaint, so this check is ours.
 */
export function vipRefusal(address: string): string | undefined {
  const ip = tryParseIp(address);
  if (!ip) return `"${address}" is not an IP address`;
  for (const net of SPECIAL)
    if (inNet(ip, net)) return `${formatIp(ip)} is ${net.what}, not a usable service address`;
  return undefined;
}

const canon = (a: string): string => {
  const ip = tryParseIp(a);
  return ip ? formatIp(ip) : a;
};

/** canonical form, or the refusal, per address string (a sync of 10k unchanged VIPs parses none). */
const screened = new Map<string, { canon: string } | { why: string }>();
function screen(a: string): { canon: string } | { why: string } {
  let r = screened.get(a);
  if (r) return r;
  const why = vipRefusal(a);
  r = why ? { why } : { canon: canon(a) };
  if (screened.size > 200_000) screened.clear(); // bounded: addresses come and go
  screened.set(a, r);
  return r;
}

/** What `dev` holds: a model kept by the caller between syncs (see syncVips' `known`). */
export interface Held {
  /** Interface addresses (older versions, or mode 'address'). */
  readonly addresses: Set<string>;
  /** ferrolb's local routes. */
  readonly routes: Set<string>;
}

async function held(run: Runner, dev: string, mode: VipMode): Promise<Held | undefined> {
  const r = await run('ip', ['-j', 'addr', 'show', 'dev', dev]);
  if (r.code !== 0) return undefined;
  const links = JSON.parse(r.stdout) as { addr_info?: { local?: string; scope?: string }[] }[];
  const addresses = new Set(
    links
      .flatMap((l) => l.addr_info ?? [])
      .flatMap((a) => (a.local && a.scope !== 'link' ? [canon(a.local)] : [])),
  );
  const routes = new Set<string>();
  if (mode === 'route') {
    for (const fam of ['-4', '-6']) {
      const out = await must(run, 'ip', [
        '-j',
        fam,
        'route',
        'show',
        'table',
        'local',
        'dev',
        dev,
        'proto',
        VIP_ROUTE_PROTO,
      ]);
      for (const x of JSON.parse(out || '[]') as { dst?: string }[])
        if (x.dst) routes.add(canon(x.dst.replace(/\/(32|128)$/, '')));
    }
  }
  return { addresses, routes };
}

/** Every VIP `dev` holds (addresses and ferrolb's local routes), or undefined without the device. */
export async function heldVips(
  run: Runner,
  dev: string,
  mode: VipMode = 'route',
): Promise<Set<string> | undefined> {
  const h = await held(run, dev, mode);
  return h && new Set([...h.addresses, ...h.routes]);
}

/** `ip -force -batch` reports each failed line as "Command failed -:N" after its error message. */
export function parseBatchFailures(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let last: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(line);
    if (m) {
      out.set(Number(m[1]), last.join(' ').trim() || 'refused by the kernel');
      last = [];
    } else if (line.trim()) last.push(line.trim());
  }
  return out;
}

/**
 * Makes `dev` hold exactly `addresses`; creates it when missing. Returns what changed.
 * `known`: what `dev` holds as the caller's model says (a previous sync's `held`); then nothing is
 * listed from the kernel and only the difference is written, so a sync costs O(change) processes
 * and parsing. The caller drops its model when the kernel may have changed behind its back (the
 * `ip monitor` reports a deleted VIP, or a verification found one missing).
 */
export async function syncVips(
  run: Runner,
  dev: string,
  addresses: readonly string[],
  mode: VipMode = 'address',
  known?: Held,
): Promise<VipSync & { held: Held }> {
  let have = known ?? (await held(run, dev, mode));
  if (have === undefined) {
    // Kernels without CONFIG_DUMMY (this test bed) get a port-less bridge: it too holds local
    // addresses and routes without ever carrying traffic of its own.
    const r = await run('ip', ['link', 'add', dev, 'type', 'dummy']);
    if (r.code !== 0) await must(run, 'ip', ['link', 'add', dev, 'type', 'bridge']);
    have = { addresses: new Set(), routes: new Set() };
  }
  if (!known) await must(run, 'ip', ['link', 'set', dev, 'up']);
  const failed: VipFailure[] = [];
  const want = new Set<string>();
  for (const a of addresses) {
    const r = screen(a);
    if ('why' in r) failed.push({ address: a, reason: r.why });
    else want.add(r.canon);
  }
  const has = (a: string) => have.addresses.has(a) || have.routes.has(a);
  const added = [...want].filter((a) => !has(a));
  const removed = [
    ...[...have.addresses].filter((a) => !want.has(a)),
    ...[...have.routes].filter((a) => !want.has(a) && !have.addresses.has(a)),
  ];
  const addLine = (a: string) =>
    mode === 'route'
      ? `route add local ${a}/${prefixOf(a)} dev ${dev} table local proto ${VIP_ROUTE_PROTO}`
      : `addr add ${a}/${prefixOf(a)} dev ${dev}${a.includes(':') ? ' nodad' : ''}`;
  const delLines = (a: string) => [
    ...(have.addresses.has(a) ? [`addr del ${a}/${prefixOf(a)} dev ${dev}`] : []),
    ...(have.routes.has(a)
      ? [`route del local ${a}/${prefixOf(a)} dev ${dev} table local proto ${VIP_ROUTE_PROTO}`]
      : []),
  ];
  // One `ip -force -batch` for all changes (10k processes would take longer than the nft
  // transaction); -force: one refused line never stops the others, and we learn which failed.
  const lines: { text: string; address: string; add: boolean }[] = [
    ...added.map((a) => ({ text: addLine(a), address: a, add: true })),
    ...removed.flatMap((a) => delLines(a).map((text) => ({ text, address: a, add: false }))),
  ];
  const ok = new Set(added);
  if (lines.length > 0) {
    const r = await run('ip', ['-force', '-batch', '-'], lines.map((l) => l.text).join('\n') + '\n');
    if (r.code !== 0) {
      const bad = parseBatchFailures(r.stderr);
      if (bad.size === 0) throw new CommandError('ip -force -batch -', r);
      for (const [n, reason] of bad) {
        const l = lines[n - 1];
        if (!l) continue;
        if (l.add) {
          ok.delete(l.address);
          failed.push({ address: l.address, reason });
        }
        // A failed delete: gone already (someone else removed it), nothing to report.
      }
    }
  }
  // The model after this sync (updated in place: the caller hands over its own): a failed delete
  // is gone already; a failed add is not held.
  for (const a of removed) {
    have.addresses.delete(a);
    have.routes.delete(a);
  }
  for (const a of added) if (ok.has(a)) (mode === 'route' ? have.routes : have.addresses).add(a);
  return { added: added.filter((a) => ok.has(a)), removed, failed, held: have };
}

export async function removeVipInterface(run: Runner, dev: string): Promise<void> {
  if ((await held(run, dev, 'address')) !== undefined) await must(run, 'ip', ['link', 'del', dev]);
}
