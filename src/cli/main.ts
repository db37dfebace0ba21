// ferroctl: the command line over the REST API.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { API_PREFIX } from '../api/paths.js';
import { ApiClient, ApiClientError, ServerAddressError, serverUrl } from './client.js';
import { OUTPUTS, type Output } from './format.js';
import { apply, parseDuration } from './apply.js';
import { completionScript, SHELLS, type Shell } from './completion.js';
import { describe, getOne, getStatus, listLoadBalancers, names } from './get.js';

const USAGE = `usage: ferroctl [--server URL|HOST:PORT] [--token TOKEN] COMMAND   (ferroctl COMMAND --help for more)
  get lb [NAME] [-o wide|json|yaml]     load balancers (wide: a row per port and endpoint, with PACKETS
                                        and BYTES; json|yaml: the objects, which apply takes back)
  get pools [NAME] [-o wide|json|yaml]  address pools with used/free per family (json|yaml: the objects)
  get bgp [-o wide|json|yaml]           BGP sessions and advertised routes
  get sctp [-o wide|json|yaml]          SCTP multihoming associations (wide: one row per path)
  get cluster [-o wide|json|yaml]       cluster members, heartbeats, quorum (wide: owner per address)
  get l2 [-o wide|json|yaml]            Layer 2 addresses: owner, interface, since, state
  describe lb NAME [-o json|yaml]       one load balancer: spec, allocation, endpoints, announcements, events
  apply -f FILE [--strict] [--wait [--timeout 60s]]
                                        create or update every object in FILE ("-" = stdin)
  delete lb NAME | delete pool NAME
  completion bash|zsh                   shell completion script (source <(ferroctl completion bash))
  version                               (also --version)
server: --server, else $FERROLB_API, else http://127.0.0.1:11111; token: --token or $FERROLB_TOKEN`;

/** Hidden command of the completion scripts: the names of lb|pools, one a line. */
const NAMES = '__names';

/** Load balancers per request of a listing (like kubectl's --chunk-size). */
const DEFAULT_CHUNK = 500;

const GET_USAGE = `usage: ferroctl get lb|pools [NAME] [-o wide|json|yaml] [--chunk-size N]
       ferroctl get bgp|sctp|cluster|l2 [-o wide|json|yaml]
  lb     load balancers: addresses, ports, endpoints and their health (wide: one row per endpoint and
         port, with that port's PACKETS and BYTES); listed in pages of --chunk-size (default
         ${DEFAULT_CHUNK}; 0: one request), printed as they come
         -o json|yaml (lb, pools): the objects as applied, which \`ferroctl apply -f\` takes back
         unchanged (a List when several); the live view: -o wide, or \`ferroctl describe lb NAME\`
  pools  address pools with used/free per family
  bgp    BGP sessions and advertised routes
  sctp   SCTP multihoming associations (wide: one row per path)
  cluster  members, reachability, last heartbeat, quorum (wide: the owner of every address)
  l2     Layer 2 addresses: owner node, interface, since, state (wide: eligible nodes, errors)`;

const APPLY_USAGE = `usage: ferroctl apply -f FILE [--strict] [--wait] [--timeout DURATION]
  create or update every object in FILE (multi-document YAML, JSON, or a List; "-" reads stdin);
  prints each object's outcome: created, configured or unchanged, with a LoadBalancer's addresses
  or why it is Pending
  --strict   a warning about an object refuses the whole change (nothing applied, exit 1); a
             LoadBalancer left Pending exits 1
  --wait     then wait until every LoadBalancer is allocated, programmed in the kernel and
             announced (BGP/L2 where advertised); exit 1 naming what is missing after --timeout
             (default 60s; e.g. 30s, 2m)`;

const DESCRIBE_USAGE = `usage: ferroctl describe lb NAME [-o json|yaml]
  status, addresses and pool, ports, mode, stored spec, endpoints with health and per-port packets
  and bytes, BGP/L2 announcement of each address, recent events (allocation, pending, probe verdicts)`;

const COMPLETION_USAGE = `usage: ferroctl completion bash|zsh
  bash: source <(ferroctl completion bash)   (or save it to /etc/bash_completion.d/ferroctl)
  zsh:  source <(ferroctl completion zsh)    (or save it as _ferroctl in a directory of $fpath)`;

const DELETE_USAGE = `usage: ferroctl delete lb NAME | ferroctl delete pool NAME
  a pool that still has allocated addresses is refused`;

const VERSION_USAGE = 'usage: ferroctl version   (or ferroctl --version)';

const VERB_USAGE: Record<string, string> = {
  get: GET_USAGE,
  describe: DESCRIBE_USAGE,
  apply: APPLY_USAGE,
  completion: COMPLETION_USAGE,
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

export async function ferroctl(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
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
      strict: { type: 'boolean' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
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
  const usage = VERB_USAGE[verb] ?? (verb === NAMES ? USAGE : undefined);
  if (!usage) throw new UsageError(`unknown command "${verb}"`);
  const maxArgs =
    { get: 2, describe: 2, apply: 0, delete: 2, version: 0, completion: 1, [NAMES]: 1 }[verb] ?? 0;
  const args = [what, name, ...extra].filter((x) => x !== undefined);
  if (args.length > maxArgs) throw new UsageError(`unexpected argument "${args[maxArgs]}"`, usage);
  if (values.filename !== undefined && verb !== 'apply')
    throw new UsageError('-f/--filename belongs to apply', usage);
  for (const f of ['strict', 'wait', 'timeout'] as const)
    if (values[f] !== undefined && verb !== 'apply') throw new UsageError(`--${f} belongs to apply`, usage);
  if (values.timeout !== undefined && !values.wait) throw new UsageError('--timeout needs --wait', usage);
  let waitMs: number | undefined;
  try {
    waitMs = values.wait ? parseDuration(values.timeout ?? '60s', '--timeout') : undefined;
  } catch (e) {
    throw new UsageError((e as Error).message, usage);
  }
  const chunk = values['chunk-size'] === undefined ? DEFAULT_CHUNK : Number(values['chunk-size']);
  if (!/^\d+$/.test(values['chunk-size'] ?? '0') || chunk > 10_000)
    throw new UsageError(`--chunk-size: "${values['chunk-size']}" is not an integer in 0..10000`, usage);
  if (verb === 'version') {
    out(`${(await import('../version.js')).VERSION}\n`);
    return 0;
  }
  if (verb === 'completion') {
    if (!SHELLS.includes(what as Shell))
      throw new UsageError(`completion for which shell? bash or zsh (got "${what ?? ''}")`, usage);
    out(completionScript(what as Shell));
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
      if (what !== undefined && (await getStatus(client, what, output, out))) return 0;
      const resource = RESOURCE_ALIASES[what ?? ''];
      if (!resource)
        throw new UsageError(
          `get what? "lb", "pools", "bgp", "sctp", "cluster" or "l2" (got "${what ?? ''}")`,
          GET_USAGE,
        );
      if (resource === 'loadbalancers' && !name) await listLoadBalancers(client, output, chunk, out);
      else await getOne(client, resource, name, output, out);
      return 0;
    }
    case 'describe': {
      if (RESOURCE_ALIASES[what ?? ''] !== 'loadbalancers' || !name)
        throw new UsageError('describe what? lb NAME', DESCRIBE_USAGE);
      if (output === 'wide') throw new UsageError('-o: describe prints text, json or yaml', DESCRIBE_USAGE);
      await describe(client, name, output, out);
      return 0;
    }
    case 'apply': {
      if (!values.filename) throw new UsageError('apply needs -f FILE', APPLY_USAGE);
      const text = await readInput(values.filename);
      return apply(
        client,
        text,
        { strict: values.strict === true, ...(waitMs !== undefined ? { waitMs } : {}) },
        out,
        err,
      );
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
    case NAMES: {
      const resource = RESOURCE_ALIASES[what ?? ''];
      if (!resource) throw new UsageError(`${NAMES}: lb or pools`);
      await names(client, resource, out);
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
        console.error(`error: ${(e as Error).message}\n${e instanceof UsageError ? e.usage : USAGE}`);
        process.exitCode = 2;
        return;
      } else console.error(`error: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}
