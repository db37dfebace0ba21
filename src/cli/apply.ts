// `ferroctl apply`: one line per object (created/configured/unchanged, the allocated addresses or
// why it is pending), `--strict` (warnings refuse the change, a pending service exits 1) and
// `--wait` (until each LoadBalancer is allocated, programmed and announced, or the timeout).
import { API_PREFIX } from '../api/paths.js';
import type { ApplyAnswer, ApplyResult } from '../api/objects.js';
import type { L2View } from '../l2/view.js';
import type { LoadBalancerView } from '../state/views.js';
import { announcementOf, notAnnounced, type BgpAnswer } from './announce.js';
import { ApiClientError, type ApiClient } from './client.js';

export interface ApplyOptions {
  readonly strict: boolean;
  /** Milliseconds to wait for every LoadBalancer to be served; undefined: do not wait. */
  readonly waitMs?: number;
  /** Poll period while waiting. */
  readonly pollMs?: number;
}

export function resultLine(r: ApplyResult): string {
  const st = r.status;
  const tail = !st
    ? ''
    : st.phase === 'Allocated'
      ? ` (${st.addresses?.length ? st.addresses.join(', ') : 'no address'})`
      : ` (Pending ${st.code}: ${st.reason})`;
  return `${r.object} ${r.outcome}${tail}`;
}

/** Why a LoadBalancer is not served yet, or undefined once it is. Reads the API (one round). */
export async function notServed(
  client: ApiClient,
  name: string,
  generation: number,
): Promise<string | undefined> {
  const v = await client.request<LoadBalancerView>(
    'GET',
    `${API_PREFIX}/loadbalancers/${encodeURIComponent(name)}?counters=false`,
  );
  if (v.status.phase !== 'Allocated') return `Pending (${v.status.code}): ${v.status.reason}`;
  if (v.dataplane) return `data plane refused it (${v.dataplane.kind}): ${v.dataplane.reason}`;
  const dp = await optional<{ kernel: boolean; generationApplied: number; problem: string | null }>(
    client,
    'dataplane',
  );
  if (dp?.kernel && dp.generationApplied < generation)
    return `data plane has applied generation ${dp.generationApplied}, not yet ${generation}`;
  const bgp = await optional<BgpAnswer>(client, 'bgp');
  // Held back by the plan (no active endpoint yet): announced once a probe passes.
  const held = bgp?.notes?.find((n) => n.startsWith(`${name}: not announced`));
  if (held) return `BGP: ${held}`;
  const l2 = await optional<L2View>(client, 'l2');
  for (const a of [...v.addresses, ...v.secondaryAddresses]) {
    const why = notAnnounced(announcementOf(a, bgp, l2));
    if (why) return why;
  }
  return undefined;
}

/** A status resource another role may not serve (404): undefined then. */
async function optional<T>(client: ApiClient, resource: string): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', `${API_PREFIX}/${resource}`);
  } catch (e) {
    if (e instanceof ApiClientError && e.status === 404) return undefined;
    throw e;
  }
}

export async function apply(
  client: ApiClient,
  text: string,
  o: ApplyOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const r = await client.request<Partial<ApplyAnswer> & { applied: string[] }>(
    'POST',
    `${API_PREFIX}/apply${o.strict ? '?strict=true' : ''}`,
    { text, type: 'application/yaml' },
  );
  // An older server answers with names alone.
  if (!r.results) {
    for (const a of r.applied) out(`${a} applied\n`);
    return 0;
  }
  let code = 0;
  for (const res of r.results) {
    out(resultLine(res) + '\n');
    for (const w of res.warnings ?? []) err(`warning: ${w}\n`);
    if (o.strict && (res.status?.phase === 'Pending' || (res.warnings?.length ?? 0) > 0)) code = 1;
  }
  if (o.waitMs === undefined) return code;
  const names = r.results
    .filter((x) => x.object.startsWith('LoadBalancer/'))
    .map((x) => x.object.slice('LoadBalancer/'.length));
  const deadline = Date.now() + o.waitMs;
  const pending = new Map<string, string>(names.map((n) => [n, 'not checked yet']));
  for (;;) {
    for (const n of [...pending.keys()]) {
      const why = await notServed(client, n, r.generation ?? 0);
      if (why === undefined) {
        pending.delete(n);
        out(`LoadBalancer/${n} ready\n`);
      } else pending.set(n, why);
    }
    if (pending.size === 0) return code;
    if (Date.now() >= deadline) {
      for (const [n, why] of pending)
        err(`error: LoadBalancer/${n} not ready after ${o.waitMs / 1000} s: ${why}\n`);
      return 1;
    }
    await new Promise((res) =>
      setTimeout(res, Math.min(o.pollMs ?? 250, Math.max(0, deadline - Date.now()))),
    );
  }
}

/** `--wait` / `--timeout` values: a duration like 30s, 2m, 500ms, or plain seconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new RangeError(`${flag}: "${value}" is not a duration (e.g. 30s, 2m, 500ms)`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (n > 3_600_000) throw new RangeError(`${flag}: "${value}" is longer than 1h`);
  return n;
}
