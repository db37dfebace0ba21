// `ferrolb` command line: run | check | controller | agent | version. Every command takes --help.
import { formatIssue, ValidationError } from '../model/issues.js';
import { loadConfigFile } from '../model/load.js';
import { buildDesiredState } from '../model/validate.js';
import { runDaemon, parseListen } from '../roles/run.js';
import { StartupError } from '../shell/runtime.js';
import { VERSION } from '../version.js';
import {
  CommandUsageError,
  metricsFlag,
  onOff,
  parseCommand,
  portOrOff,
  UsageError,
} from '../roles/usage.js';
import { ComponentStartError } from '../shell/component.js';
import { LockError } from '../shell/lock.js';
import { LogLevelError } from '../shell/log.js';

const RUN_USAGE = `usage: ferrolb run [flags]
  start the daemon in the foreground (JSON logs on stdout; SIGHUP reloads, SIGTERM stops)
  -c, --config FILE          objects to serve (multi-document YAML); re-read on SIGHUP
  --state-dir DIR            persisted state, locked while running (default $FERROLB_STATE_DIR, else /var/lib/ferrolb)
  --api HOST:PORT            REST API (default $FERROLB_API_LISTEN, else 127.0.0.1:11111)
  --api-token-file FILE      bearer token for /api/v1 (default $FERROLB_API_TOKEN); an empty file is refused
  --insecure-api             allow a non-loopback --api without a token
  --metrics-addr HOST:PORT   also serve /metrics and /healthz here, no token (default off: /metrics is on the API)
  --api-max-connections N    open API connections at once (default: a quarter of the fd limit, 16..1024)
  --dataplane on|off         program the kernel (nftables, VIPs) (default on)
  --probes on|off            run endpoint health checks (default on)
  --keep-forwarding          on SIGTERM leave rules and VIPs in place
  --bgp-port PORT|off        inbound BGP sessions (default 179)
  --router-id A.B.C.D        BGP identifier when a BGPPeer sets none
  --node-name NAME           this node in the Cluster object (default $FERROLB_NODE_NAME, else the hostname)
  --allow-empty              accept a config file (start or SIGHUP) that would delete every
                             file-defined object (empty, truncated); refused without it`;

const CHECK_USAGE = `usage: ferrolb check --config FILE
  validate a config file and print every error (exit 1 when invalid)`;

const VERSION_USAGE = `usage: ferrolb version   (or ferrolb --version)`;

const USAGE = `usage: ferrolb COMMAND [flags]   (ferrolb COMMAND --help for its flags)
  run          start the standalone daemon
  check        validate a config file
  controller   Kubernetes: allocate addresses, write Service status
  agent        Kubernetes: program data plane, probes and BGP on an LB node
  version      print the version (also --version)`;

const RUN_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'state-dir': { type: 'string' },
  api: { type: 'string' },
  'api-token-file': { type: 'string' },
  'metrics-addr': { type: 'string' },
  'insecure-api': { type: 'boolean' },
  'api-max-connections': { type: 'string' },
  dataplane: { type: 'string' },
  probes: { type: 'string' },
  'bgp-port': { type: 'string' },
  'router-id': { type: 'string' },
  'node-name': { type: 'string' },
  'keep-forwarding': { type: 'boolean' },
  'allow-empty': { type: 'boolean' },
} as const;

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new CommandUsageError(`${flag}: "${v}" is not a positive integer`, RUN_USAGE);
  return n;
}

async function check(path: string): Promise<number> {
  let objects;
  try {
    objects = await loadConfigFile(path);
  } catch (e) {
    if (e instanceof ValidationError) {
      for (const i of e.issues) console.error(`error: ${formatIssue(i)}`);
      return 1;
    }
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
  const r = buildDesiredState(objects.map((object) => ({ origin: 'file' as const, object })));
  for (const w of r.warnings) console.error(`warning: ${formatIssue(w)}`);
  for (const i of r.issues) console.error(`error: ${formatIssue(i)}`);
  if (!r.state) {
    console.error(`${path}: ${r.issues.length} error(s)`);
    return 1;
  }
  console.log(`${path}: valid (${r.state.pools.size} pools, ${r.state.loadBalancers.size} load balancers)`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    // The Kubernetes roles load the Kubernetes client: only when asked for (start-up of the others).
    case 'controller':
      return (await import('../roles/controller.js')).controllerMain(rest);
    case 'agent':
      return (await import('../roles/agent.js')).agentMain(rest);
    case 'check': {
      const { values } = parseCommand(rest, { config: { type: 'string', short: 'c' } }, CHECK_USAGE);
      if (values.help) return help(CHECK_USAGE);
      if (!values.config) throw new CommandUsageError('check needs --config FILE', CHECK_USAGE);
      return check(values.config);
    }
    case 'run': {
      const { values } = parseCommand(rest, RUN_OPTIONS, RUN_USAGE);
      if (values.help) return help(RUN_USAGE);
      const usage = <T>(f: () => T): T => {
        try {
          return f();
        } catch (e) {
          if (e instanceof UsageError || e instanceof StartupError)
            throw new CommandUsageError(e.message, RUN_USAGE);
          throw e;
        }
      };
      const maxConn = positiveInt('--api-max-connections', values['api-max-connections']);
      return runDaemon({
        ...(values.config ? { configPath: values.config } : {}),
        stateDir: values['state-dir'] ?? process.env.FERROLB_STATE_DIR ?? '/var/lib/ferrolb',
        listen: usage(() => parseListen(values.api ?? process.env.FERROLB_API_LISTEN ?? '127.0.0.1:11111')),
        ...(values['api-token-file'] ? { tokenFile: values['api-token-file'] } : {}),
        insecureApi: values['insecure-api'] ?? false,
        ...(maxConn ? { apiMaxConnections: maxConn } : {}),
        dataplane: usage(() => onOff('--dataplane', values.dataplane ?? process.env.FERROLB_DATAPLANE, true)),
        probes: usage(() => onOff('--probes', values.probes ?? process.env.FERROLB_PROBES, true)),
        keepForwarding: values['keep-forwarding'] ?? false,
        allowEmpty: values['allow-empty'] ?? false,
        bgpPort: usage(() => portOrOff('--bgp-port', values['bgp-port'] ?? '179')),
        ...(values['router-id'] ? { routerId: values['router-id'] } : {}),
        ...((values['node-name'] ?? process.env.FERROLB_NODE_NAME)
          ? { nodeName: (values['node-name'] ?? process.env.FERROLB_NODE_NAME) as string }
          : {}),
        ...usage(() => metricsFlag(values['metrics-addr'])),
      });
    }
    case 'version':
    case '--version':
    case '-V': {
      const { values } = parseCommand(rest, {}, VERSION_USAGE);
      if (values.help) return help(VERSION_USAGE);
      console.log(VERSION);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h': {
      const sub = rest[0] ?? '';
      if (sub === 'controller') return help((await import('../roles/controller.js')).CONTROLLER_USAGE);
      if (sub === 'agent') return help((await import('../roles/agent.js')).AGENT_USAGE);
      return help({ run: RUN_USAGE, check: CHECK_USAGE }[sub] ?? USAGE);
    }
    case undefined:
      throw new CommandUsageError('no command given', USAGE);
    default:
      throw new CommandUsageError(`unknown command "${cmd}"`, USAGE);
  }
}

function help(text: string): number {
  console.log(text);
  return 0;
}

/** Entry point of the `ferrolb` binary. */
export function runFerrolb(): void {
  // A role that has stopped (or failed to start, rolled back) must end even if some library left a
  // handle open: give the event loop a moment to drain, then exit. The timer itself keeps nothing alive.
  const exitSoon = () => setTimeout(() => process.exit(), 2_000).unref();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      exitSoon();
    },
    (e: unknown) => {
      const startup = e instanceof ComponentStartError && e.cause instanceof StartupError ? e.cause : e;
      if (startup instanceof StartupError) {
        console.error(
          `ferrolb: ${e instanceof ComponentStartError ? `${e.component}: ` : ''}${startup.message}`,
        );
        for (const i of startup.issues) console.error(`  error: ${formatIssue(i)}`);
      } else if (e instanceof ComponentStartError || e instanceof LockError) {
        console.error(`ferrolb: ${e.message}`);
      } else if (e instanceof LogLevelError) {
        console.error(`ferrolb: ${e.message}`);
        process.exitCode = 2;
        return;
      } else if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        const usage = e instanceof CommandUsageError ? e.usage : USAGE;
        console.error(`ferrolb: ${(e as Error).message}\n${usage}`);
        process.exitCode = 2;
        return;
      } else {
        console.error(`ferrolb: ${(e as Error).stack ?? String(e)}`);
      }
      process.exitCode = 1;
      exitSoon();
    },
  );
}
