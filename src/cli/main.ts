// ferroctl: the command line over the REST API.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { API_PREFIX } from '../api/paths.js';
import type { LoadBalancerView, PoolView } from '../state/views.js';
import { ApiClient, ApiClientError, ServerAddressError, serverUrl } from './client.js';
import { formatBgpStatus } from '../bgp/format.js';
import type { BgpStatus } from '../bgp/types.js';
import {
  formatLoadBalancers,
  formatPools,
  loadBalancerTable,
  OUTPUTS,
  stringify,
  type Output,
} from './format.js';
import { sctpRows } from '../sctp/view.js';
import type { AssociationView } from '../sctp/engine/types.js';
import { renderTable, TableStream } from './table.js';
import type { ClusterStatus } from '../cluster/status.js';
import { clusterHeadline, memberRows, ownerRows, syncRows } from '../cluster/view.js';
import { l2Rows, type L2View } from '../l2/view.js';

const USAGE = `usage: ferroctl [--server URL|HOST:PORT] [--token TOKEN] COMMAND   (ferroctl COMMAND --help for more)
  get lb [NAME] [-o wide|json|yaml]     load balancers (wide: one row per endpoint)
  get pools [NAME] [-o wide|json|yaml]  address pools with used/free per family
  get bgp [-o wide|json|yaml]           BGP sessions and advertised routes
  get sctp [-o wide|json|yaml]          SCTP multihoming associations (wide: one row per path)
  get cluster [-o wide|json|yaml]       cluster members, heartbeats, quorum (wide: owner per address)
  get l2 [-o wide|json|yaml]            Layer 2 addresses: owner, interface, since, state
  apply -f FILE                         create or replace every object in FILE ("-" = stdin)
  delete lb NAME | delete pool NAME
  version                               (also --version)
server: --server, else $FERROLB_API, else http://127.0.0.1:11111; token: --token or $FERROLB_TOKEN`;

/** Load balancers per request of a listing (like kubectl's --chunk-size). */
const DEFAULT_CHUNK = 500;

const GET_USAGE = `usage: ferroctl get lb|pools [NAME] [-o wide|json|yaml] [--chunk-size N]
       ferroctl get bgp|sctp|cluster|l2 [-o wide|json|yaml]
  lb     load balancers: addresses, ports, endpoints and their health (wide: one row per endpoint);
         listed in pages of --chunk-size (default ${DEFAULT_CHUNK}; 0: one request), printed as they come
  pools  address pools with used/free per family
  bgp    BGP sessions and advertised routes
  sctp   SCTP multihoming associations (wide: one row per path)
  cluster  members, reachability, last heartbeat, quorum (wide: the owner of every address)
  l2     Layer 2 addresses: owner node, interface, since, state (wide: eligible nodes, errors)`;

const APPLY_USAGE = `usage: ferroctl apply -f FILE
  create or replace every object in FILE (multi-document YAML or JSON; "-" reads stdin)`;

const DELETE_USAGE = `usage: ferroctl delete lb NAME | ferroctl delete pool NAME
  a pool that still has allocated addresses is refused`;

const VERSION_USAGE = 'usage: ferroctl version   (or ferroctl --version)';

const VERB_USAGE: Record<string, string> = {
  get: GET_USAGE,
  apply: APPLY_USAGE,
  delete: DELETE_USAGE,
  version: VERSION_USAGE,
};

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage = USAGE,
  ) {
    super(message);
  }
}

const RESOURCE_ALIASES: Record<string, 'loadbalancers' | 'pools'> = {
  lb: 'loadbalancers',
  lbs: 'loadbalancers',
  loadbalancer: 'loadbalancers',
  loadbalancers: 'loadbalancers',
  pool: 'pools',
  pools: 'pools',
  ipaddresspool: 'pools',
  ipaddresspools: 'pools',
};

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function ferroctl(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      server: { type: 'string', short: 's' },
      token: { type: 'string' },
      output: { type: 'string', short: 'o' },
      filename: { type: 'string', short: 'f' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      'chunk-size': { type: 'string' },
    },
    allowPositionals: true,
  });
  const [verb, what, name, ...extra] = positionals;
  if (values.help) {
    out((VERB_USAGE[verb ?? ''] ?? USAGE) + '\n');
    return 0;
  }
  if (values.version && verb === undefined) {
    out(`${(await import('../version.js')).VERSION}\n`);
    return 0;
  }
  if (verb === undefined) throw new UsageError('no command given');
  const usage = VERB_USAGE[verb];
  if (!usage) throw new UsageError(`unknown command "${verb}"`);
  const maxArgs = { get: 2, apply: 0, delete: 2, version: 0 }[verb] ?? 0;
  const args = [what, name, ...extra].filter((x) => x !== undefined);
  if (args.length > maxArgs) throw new UsageError(`unexpected argument "${args[maxArgs]}"`, usage);
  if (values.filename !== undefined && verb !== 'apply')
    throw new UsageError('-f/--filename belongs to apply', usage);
  const chunk = values['chunk-size'] === undefined ? DEFAULT_CHUNK : Number(values['chunk-size']);
  if (!/^\d+$/.test(values['chunk-size'] ?? '0') || chunk > 10_000)
    throw new UsageError(`--chunk-size: "${values['chunk-size']}" is not an integer in 0..10000`, usage);
  if (verb === 'version') {
    out(`${(await import('../version.js')).VERSION}\n`);
    return 0;
  }
  const output = (values.output ?? 'table') as Output;
  if (!OUTPUTS.includes(output))
    throw new UsageError(`-o: "${values.output}" is not one of wide, json, yaml`, usage);
  let server: string;
  try {
    server =
      values.server !== undefined
        ? serverUrl(values.server)
        : process.env.FERROLB_API
          ? serverUrl(process.env.FERROLB_API, '$FERROLB_API')
          : 'http://127.0.0.1:11111';
  } catch (e) {
    if (e instanceof ServerAddressError) throw new UsageError(e.message, usage);
    throw e;
  }
  const client = new ApiClient(server, values.token ?? process.env.FERROLB_TOKEN);

  switch (verb) {
    case 'get': {
      if (what === 'bgp') {
        const st = await client.request<BgpStatus>('GET', `${API_PREFIX}/bgp`);
        out(
          output === 'json'
            ? JSON.stringify(st, null, 2) + '\n'
            : output === 'yaml'
              ? stringify(st)
              : formatBgpStatus(st, output === 'wide'),
        );
        return 0;
      }
      if (what === 'sctp') {
        const st = await client.request<{
          running: boolean;
          error?: string;
          associations: AssociationView[];
        }>('GET', `${API_PREFIX}/sctp`);
        if (output === 'json') out(JSON.stringify(st, null, 2) + '\n');
        else if (output === 'yaml') out(stringify(st));
        else {
          const t = sctpRows(st.associations, output === 'wide');
          if (st.error) out(`SCTP multihoming unavailable: ${st.error}\n`);
          out(t.rows.length > 0 ? renderTable(t.headers, t.rows) : 'No SCTP associations.\n');
        }
        return 0;
      }
      if (what === 'cluster') {
        const st = await client.request<ClusterStatus>('GET', `${API_PREFIX}/cluster`);
        if (output === 'json') out(JSON.stringify(st, null, 2) + '\n');
        else if (output === 'yaml') out(stringify(st));
        else {
          out(clusterHeadline(st) + '\n');
          const m = memberRows(st, output === 'wide');
          if (m.rows.length > 0) out(renderTable(m.headers, m.rows));
          const sy = syncRows(st);
          if (sy.rows.length > 0) out('\n' + renderTable(sy.headers, sy.rows));
          if (output === 'wide' && st.owners.length > 0) {
            const o = ownerRows(st);
            out('\n' + renderTable(o.headers, o.rows));
          }
        }
        return 0;
      }
      if (what === 'l2') {
        const v = await client.request<L2View>('GET', `${API_PREFIX}/l2`);
        if (output === 'json') out(JSON.stringify(v, null, 2) + '\n');
        else if (output === 'yaml') out(stringify(v));
        else {
          if (!v.configured) out('No Cluster configured: Layer 2 ownership is not managed on this node.\n');
          if (v.error) out(`error: ${v.error}\n`);
          const t = l2Rows(v, output === 'wide');
          out(t.rows.length > 0 ? renderTable(t.headers, t.rows) : 'No Layer 2 addresses.\n');
        }
        return 0;
      }
      const resource = RESOURCE_ALIASES[what ?? ''];
      if (!resource)
        throw new UsageError(
          `get what? "lb", "pools", "bgp", "sctp", "cluster" or "l2" (got "${what ?? ''}")`,
          GET_USAGE,
        );
      if (resource === 'loadbalancers') {
        if (name) {
          const lb = await client.request<LoadBalancerView>(
            'GET',
            `${API_PREFIX}/loadbalancers/${encodeURIComponent(name)}`,
          );
          out(formatLoadBalancers([lb], output));
        } else await listLoadBalancers(client, output, chunk, out);
      } else {
        const pools = name
          ? [await client.request<PoolView>('GET', `${API_PREFIX}/pools/${encodeURIComponent(name)}`)]
          : (await client.request<{ items: PoolView[] }>('GET', `${API_PREFIX}/pools`)).items;
        out(formatPools(pools, output));
      }
      return 0;
    }
    case 'apply': {
      if (!values.filename) throw new UsageError('apply needs -f FILE', APPLY_USAGE);
      const text = await readInput(values.filename);
      const r = await client.request<{ applied: string[] }>('POST', `${API_PREFIX}/apply`, {
        text,
        type: 'application/yaml',
      });
      for (const a of r.applied) out(`${a} applied\n`);
      return 0;
    }
    case 'delete': {
      const resource = RESOURCE_ALIASES[what ?? ''];
      if (!resource || !name) throw new UsageError('delete what? lb NAME or pool NAME', DELETE_USAGE);
      const r = await client.request<{ deleted: string }>(
        'DELETE',
        `${API_PREFIX}/${resource}/${encodeURIComponent(name)}`,
      );
      out(`${r.deleted} deleted\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${verb}"`);
  }
}

interface LbPage {
  items: LoadBalancerView[];
  metadata?: { continue?: string; remainingItemCount?: number };
}

/**
 * `get lb`: page by page (`?limit=&continue=`), each printed as it arrives (table, wide, JSON), so
 * 50k services cost one page of memory and the first rows show at once. YAML is printed at the end.
 * Output is the same text as one unpaged listing (tables: see TableStream for column widths).
 */
async function listLoadBalancers(
  client: ApiClient,
  output: Output,
  chunk: number,
  out: (s: string) => void,
): Promise<void> {
  // The plain table shows no counters: do not ask the data plane for them.
  const query = (token?: string) => {
    const q = new URLSearchParams();
    if (output === 'table') q.set('counters', 'false');
    if (chunk > 0) q.set('limit', String(chunk));
    if (token) q.set('continue', token);
    const text = q.toString();
    return `${API_PREFIX}/loadbalancers${text ? `?${text}` : ''}`;
  };
  let page = await client.request<LbPage>('GET', query());
  // One page holds everything: print it exactly as an unpaged listing.
  if (!page.metadata?.continue) return out(formatLoadBalancers(page.items, output));
  const all: LoadBalancerView[] = [];
  const table =
    output === 'table' || output === 'wide'
      ? new TableStream(loadBalancerTable([], output).headers)
      : undefined;
  let firstJson = true;
  for (;;) {
    if (table) out(table.write(loadBalancerTable(page.items, output as 'table' | 'wide').rows));
    else if (output === 'json')
      for (const lb of page.items) {
        // The text of JSON.stringify({ items }, null, 2), an item at a time.
        const text = JSON.stringify(lb, null, 2).replace(/\n/g, '\n    ');
        out(`${firstJson ? '{\n  "items": [\n' : ',\n'}    ${text}`);
        firstJson = false;
      }
    else all.push(...page.items);
    const token = page.metadata?.continue;
    if (!token) break;
    page = await client.request<LbPage>('GET', query(token));
  }
  if (output === 'json') out(firstJson ? '{\n  "items": []\n}\n' : '\n  ]\n}\n');
  else if (!table) out(formatLoadBalancers(all, output));
}

/** Entry point of the `ferroctl` binary. */
export function runFerroctl(): void {
  ferroctl(process.argv.slice(2), (s) => process.stdout.write(s)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      if (e instanceof ApiClientError) console.error(`error: ${e.describe()}`);
      else if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        console.error(`error: ${(e as Error).message}\n${e instanceof UsageError ? e.usage : USAGE}`);
        process.exitCode = 2;
        return;
      } else console.error(`error: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}
