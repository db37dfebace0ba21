// `ferroctl get ...` and `describe`: reads from the API, printed by the formatters.
import { API_PREFIX } from '../api/paths.js';
import type { LoadBalancerView, PoolView } from '../state/views.js';
import type { ServiceEvent } from '../state/events.js';
import { formatBgpStatus } from '../bgp/format.js';
import { sctpRows } from '../sctp/view.js';
import type { AssociationView } from '../sctp/engine/types.js';
import type { ClusterStatus } from '../cluster/status.js';
import { clusterHeadline, memberRows, ownerRows, syncRows } from '../cluster/view.js';
import { l2Rows, type L2View } from '../l2/view.js';
import { ctRows, type CtView } from '../cluster/ct-view.js';
import { ApiClientError, type ApiClient } from './client.js';
import type { BgpAnswer } from './announce.js';
import { describeLoadBalancer, descriptionValue } from './describe.js';
import {
  formatLoadBalancers,
  formatObjects,
  formatPools,
  formatValue,
  loadBalancerTable,
  type Output,
} from './format.js';
import { renderTable, TableStream } from './table.js';

type Out = (s: string) => void;
const isData = (o: Output): o is 'json' | 'yaml' => o === 'json' || o === 'yaml';

/** get bgp|sctp|cluster|ct|l2: status resources (views; -o json|yaml prints them whole). */
export async function getStatus(client: ApiClient, what: string, output: Output, out: Out): Promise<boolean> {
  const wide = output === 'wide';
  switch (what) {
    case 'bgp': {
      const st = await client.request<BgpAnswer>('GET', `${API_PREFIX}/bgp`);
      out(isData(output) ? formatValue(st, output) : formatBgpStatus(st, wide));
      return true;
    }
    case 'sctp': {
      const st = await client.request<{ running: boolean; error?: string; associations: AssociationView[] }>(
        'GET',
        `${API_PREFIX}/sctp`,
      );
      if (isData(output)) return (out(formatValue(st, output)), true);
      const t = sctpRows(st.associations, wide);
      if (st.error) out(`SCTP multihoming unavailable: ${st.error}\n`);
      out(t.rows.length > 0 ? renderTable(t.headers, t.rows) : 'No SCTP associations.\n');
      return true;
    }
    case 'cluster': {
      const st = await client.request<ClusterStatus>('GET', `${API_PREFIX}/cluster`);
      if (isData(output)) return (out(formatValue(st, output)), true);
      out(clusterHeadline(st) + '\n');
      const m = memberRows(st, wide);
      if (m.rows.length > 0) out(renderTable(m.headers, m.rows));
      const sy = syncRows(st);
      if (sy.rows.length > 0) out('\n' + renderTable(sy.headers, sy.rows));
      if (wide && st.owners.length > 0) {
        const o = ownerRows(st);
        out('\n' + renderTable(o.headers, o.rows));
      }
      return true;
    }
    case 'ct': {
      const v = await client.request<CtView>('GET', `${API_PREFIX}/ct`);
      if (isData(output)) return (out(formatValue(v, output)), true);
      if (v.error) out(`error: ${v.error}\n`);
      const t = ctRows(v);
      out(t.rows.length > 0 ? renderTable(t.headers, t.rows) : 'No service connections.\n');
      return true;
    }
    case 'l2': {
      const v = await client.request<L2View>('GET', `${API_PREFIX}/l2`);
      if (isData(output)) return (out(formatValue(v, output)), true);
      if (!v.configured) out('No Cluster configured: Layer 2 ownership is not managed on this node.\n');
      if (v.error) out(`error: ${v.error}\n`);
      const t = l2Rows(v, wide);
      out(t.rows.length > 0 ? renderTable(t.headers, t.rows) : 'No Layer 2 addresses.\n');
      return true;
    }
    default:
      return false;
  }
}

/** get lb NAME / get pools [NAME]: -o json|yaml print the stored objects (re-appliable). */
export async function getOne(
  client: ApiClient,
  resource: 'loadbalancers' | 'pools',
  name: string | undefined,
  output: Output,
  out: Out,
): Promise<void> {
  const path = `${API_PREFIX}/${resource}${name ? `/${encodeURIComponent(name)}` : ''}`;
  if (isData(output)) {
    const v = await client.request<{ items?: unknown[] }>('GET', `${path}?as=object`);
    return out(name ? formatObjects([v], output, true) : formatObjects(v.items ?? [], output, false));
  }
  if (resource === 'loadbalancers') {
    const lb = await client.request<LoadBalancerView>('GET', path);
    return out(formatLoadBalancers([lb], output));
  }
  const pools = name
    ? [await client.request<PoolView>('GET', path)]
    : (await client.request<{ items: PoolView[] }>('GET', path)).items;
  out(formatPools(pools, output));
}

/** Names for shell completion (`ferroctl __names lb|pools`), one a line. */
export async function names(client: ApiClient, resource: 'loadbalancers' | 'pools', out: Out): Promise<void> {
  const v = await client.request<{ items: { name: string }[] }>(
    'GET',
    `${API_PREFIX}/${resource}${resource === 'loadbalancers' ? '?counters=false' : ''}`,
  );
  for (const i of v.items) out(`${i.name}\n`);
}

/** describe lb NAME: the view with its stored spec, BGP/L2 announcement and events. */
export async function describe(client: ApiClient, name: string, output: Output, out: Out): Promise<void> {
  const path = `${API_PREFIX}/loadbalancers/${encodeURIComponent(name)}`;
  const view = await client.request<LoadBalancerView>('GET', path);
  const optional = async <T>(p: string): Promise<T | undefined> => {
    try {
      return await client.request<T>('GET', p);
    } catch (e) {
      if (e instanceof ApiClientError && (e.status === 404 || e.status === 0)) return undefined;
      throw e;
    }
  };
  const [object, bgp, l2, events, dataplane] = await Promise.all([
    optional<Record<string, unknown>>(`${path}?as=object`),
    optional<BgpAnswer>(`${API_PREFIX}/bgp`),
    optional<L2View>(`${API_PREFIX}/l2`),
    optional<{ items: ServiceEvent[] }>(`${API_PREFIX}/events/${encodeURIComponent(name)}`),
    optional<{ kernel: boolean }>(`${API_PREFIX}/dataplane`),
  ]);
  const d = {
    view,
    ...(object ? { object } : {}),
    ...(bgp ? { bgp } : {}),
    ...(l2 ? { l2 } : {}),
    events: events?.items ?? [],
    ...(dataplane ? { dataplane } : {}),
  };
  out(isData(output) ? formatValue(descriptionValue(d), output) : describeLoadBalancer(d));
}

interface LbPage {
  items: LoadBalancerView[];
  metadata?: { continue?: string; remainingItemCount?: number };
}

/**
 * `get lb`: page by page (`?limit=&continue=`), each printed as it arrives (table, wide, JSON), so
 * 50k services cost one page of memory and the first rows show at once. YAML is printed at the end.
 * Output is the same text as one unpaged listing (tables: see TableStream for column widths).
 * -o json|yaml list the stored objects (a List that apply takes back).
 */
export async function listLoadBalancers(
  client: ApiClient,
  output: Output,
  chunk: number,
  out: Out,
): Promise<void> {
  // The plain table shows no counters: do not ask the data plane for them.
  const query = (token?: string) => {
    const q = new URLSearchParams();
    if (isData(output)) q.set('as', 'object');
    else if (output === 'table') q.set('counters', 'false');
    if (chunk > 0) q.set('limit', String(chunk));
    if (token) q.set('continue', token);
    return `${API_PREFIX}/loadbalancers?${q.toString()}`;
  };
  let page = await client.request<LbPage>('GET', query());
  // One page holds everything: print it exactly as an unpaged listing.
  if (!page.metadata?.continue)
    return out(
      isData(output) ? formatObjects(page.items, output, false) : formatLoadBalancers(page.items, output),
    );
  const all: unknown[] = [];
  const table = isData(output) ? undefined : new TableStream(loadBalancerTable([], output).headers);
  let firstJson = true;
  for (;;) {
    // Ask for the next page before printing this one: the server builds it while the CLI renders.
    const token = page.metadata?.continue;
    const next = token ? client.request<LbPage>('GET', query(token)) : undefined;
    // Its rejection is awaited below; until then it must not count as unhandled.
    next?.catch(() => undefined);
    if (table) out(table.write(loadBalancerTable(page.items, output as 'table' | 'wide').rows));
    else if (output === 'json')
      for (const o of page.items) {
        // The text of formatObjects(items, 'json'), an item at a time.
        const text = JSON.stringify(o, null, 2).replace(/\n/g, '\n    ');
        out(
          `${firstJson ? '{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [\n' : ',\n'}    ${text}`,
        );
        firstJson = false;
      }
    else all.push(...page.items);
    if (!next) break;
    page = await next;
  }
  if (output === 'json') out(firstJson ? formatObjects([], 'json', false) : '\n  ]\n}\n');
  else if (output === 'yaml') out(formatObjects(all, 'yaml', false));
}
