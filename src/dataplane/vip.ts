// VIP plumbing: the service addresses live on a dummy interface so the node owns them (answers ARP
// for IPv4 on its links, replies from the VIP, accepts the fullnat return traffic), and leave when
// the node stops serving them.
import { canonicalIp } from '../net/ip.js';
import { must, type Runner } from './exec.js';

export const DEFAULT_VIP_INTERFACE = 'ferrolb0';

const prefixOf = (a: string) => (a.includes(':') ? 128 : 32);

async function current(run: Runner, dev: string): Promise<string[] | undefined> {
  const r = await run('ip', ['-j', 'addr', 'show', 'dev', dev]);
  if (r.code !== 0) return undefined;
  const links = JSON.parse(r.stdout) as { addr_info?: { local?: string; scope?: string }[] }[];
  return links
    .flatMap((l) => l.addr_info ?? [])
    .flatMap((a) => (a.local && a.scope !== 'link' ? [canonicalIp(a.local)] : []));
}

/** Makes `dev` carry exactly `addresses`; creates it when missing. Returns what changed. */
export async function syncVips(
  run: Runner,
  dev: string,
  addresses: readonly string[],
): Promise<{ added: string[]; removed: string[] }> {
  let have = await current(run, dev);
  if (have === undefined) {
    // Kernels without CONFIG_DUMMY (this test bed) get a port-less bridge: it too holds local
    // addresses without ever carrying traffic of its own.
    const r = await run('ip', ['link', 'add', dev, 'type', 'dummy']);
    if (r.code !== 0) await must(run, 'ip', ['link', 'add', dev, 'type', 'bridge']);
    have = [];
  }
  await must(run, 'ip', ['link', 'set', dev, 'up']);
  const want = new Set(addresses.map(canonicalIp));
  const added = [...want].filter((a) => !have.includes(a));
  const removed = have.filter((a) => !want.has(a));
  // One `ip -batch` for all changes: 10k VIPs as 10k processes would take longer than the nft
  // transaction itself.
  const batch = [
    ...added.map((a) => `addr add ${a}/${prefixOf(a)} dev ${dev}${a.includes(':') ? ' nodad' : ''}`),
    ...removed.map((a) => `addr del ${a}/${prefixOf(a)} dev ${dev}`),
  ];
  if (batch.length > 0) await must(run, 'ip', ['-batch', '-'], batch.join('\n') + '\n');
  return { added, removed };
}

export async function removeVipInterface(run: Runner, dev: string): Promise<void> {
  if ((await current(run, dev)) !== undefined) await must(run, 'ip', ['link', 'del', dev]);
}
