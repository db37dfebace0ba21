// ferroctl: the command line over the REST API.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { API_PREFIX } from '../api/paths.js';
import type { LoadBalancerView, PoolView } from '../state/views.js';
import { ApiClient, ApiClientError } from './client.js';
import { stringify } from 'yaml';
import { formatBgpStatus } from '../bgp/format.js';
import type { BgpStatus } from '../bgp/types.js';
import { formatLoadBalancers, formatPools, OUTPUTS, type Output } from './format.js';
import { sctpRows } from '../sctp/view.js';
import type { AssociationView } from '../sctp/engine/types.js';
import { renderTable } from './table.js';

const USAGE = `usage: ferroctl [--server URL] [--token TOKEN] COMMAND
  get lb [NAME] [-o wide|json|yaml]     load balancers (wide: one row per endpoint)
  get pools [-o wide|json|yaml]         address pools with used/free per family
  get bgp [-o wide|json|yaml]           BGP sessions and advertised routes
  get sctp [-o wide|json|yaml]          SCTP multihoming associations (wide: one row per path)
  apply -f FILE                         create or replace every object in FILE ("-" = stdin)
  delete lb NAME | delete pool NAME
  version
server: --server, else $FERROLB_API, else http://127.0.0.1:11111; token: --token or $FERROLB_TOKEN`;

class UsageError extends Error {}

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
    },
    allowPositionals: true,
  });
  const [verb, what, name] = positionals;
  if (values.help || verb === undefined) {
    out(USAGE + '\n');
    return verb === undefined && !values.help ? 2 : 0;
  }
  if (verb === 'version') {
    out(`${(await import('../version.js')).VERSION}\n`);
    return 0;
  }
  const output = (values.output ?? 'table') as Output;
  if (!OUTPUTS.includes(output))
    throw new UsageError(`-o: "${values.output}" is not one of wide, json, yaml`);
  const client = new ApiClient(
    values.server ?? process.env.FERROLB_API ?? 'http://127.0.0.1:11111',
    values.token ?? process.env.FERROLB_TOKEN,
  );

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
      const resource = RESOURCE_ALIASES[what ?? ''];
      if (!resource) throw new UsageError(`get what? "lb", "pools", "bgp" or "sctp" (got "${what ?? ''}")`);
      if (resource === 'loadbalancers') {
        const lbs = name
          ? [
              await client.request<LoadBalancerView>(
                'GET',
                `${API_PREFIX}/loadbalancers/${encodeURIComponent(name)}`,
              ),
            ]
          : (
              await client.request<{ items: LoadBalancerView[] }>(
                'GET',
                // The plain table shows no counters: do not ask the data plane for them.
                `${API_PREFIX}/loadbalancers${output === 'table' ? '?counters=false' : ''}`,
              )
            ).items;
        out(formatLoadBalancers(lbs, output));
      } else {
        const pools = name
          ? [await client.request<PoolView>('GET', `${API_PREFIX}/pools/${encodeURIComponent(name)}`)]
          : (await client.request<{ items: PoolView[] }>('GET', `${API_PREFIX}/pools`)).items;
        out(formatPools(pools, output));
      }
      return 0;
    }
    case 'apply': {
      if (!values.filename) throw new UsageError('apply needs -f FILE');
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
      if (!resource || !name) throw new UsageError('delete lb NAME | delete pool NAME');
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

/** Entry point of the `ferroctl` binary. */
export function runFerroctl(): void {
  ferroctl(process.argv.slice(2), (s) => process.stdout.write(s)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      if (e instanceof ApiClientError) console.error(`error: ${e.describe()}`);
      else if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        console.error(`error: ${(e as Error).message}\n${USAGE}`);
        process.exitCode = 2;
        return;
      } else console.error(`error: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}
