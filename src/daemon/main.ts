// `ferrolb` command line: run | check | version.
import { parseArgs } from 'node:util';
import { formatIssue, ValidationError } from '../model/issues.js';
import { loadConfigFile } from '../model/load.js';
import { buildDesiredState } from '../model/validate.js';
import { runDaemon, parseListen } from './run.js';
import { StartupError } from './runtime.js';
import { VERSION } from '../version.js';
import { controllerMain, CONTROLLER_USAGE } from '../k8s/cli.js';
import { agentMain, AGENT_USAGE } from './agent.js';
import { onOff, portOrOff, UsageError } from './usage.js';

const USAGE = `usage:
  ferrolb run   [--config FILE] [--state-dir DIR] [--api HOST:PORT] [--api-token-file FILE]
                [--dataplane on|off] [--probes on|off] [--keep-forwarding]
                [--bgp-port PORT|off] [--router-id A.B.C.D] [--allow-empty]
  ferrolb check --config FILE
  ferrolb controller [flags]   (Kubernetes: allocate addresses, write Service status)
  ferrolb agent [flags]        (Kubernetes: program data plane, probes and BGP on an LB node)
  ferrolb version

run     start the daemon in the foreground (JSON logs on stdout; SIGHUP reloads, SIGTERM stops);
        a file that would delete every file-defined object (empty, truncated) is refused unless
        --allow-empty is given
check   validate a config file and print every error (exit 1 when invalid)

${CONTROLLER_USAGE}

${AGENT_USAGE}`;

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
  // The Kubernetes roles have flags of their own.
  if (cmd === 'controller') return controllerMain(rest);
  if (cmd === 'agent') return agentMain(rest);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      'state-dir': { type: 'string' },
      api: { type: 'string' },
      'api-token-file': { type: 'string' },
      dataplane: { type: 'string' },
      probes: { type: 'string' },
      'bgp-port': { type: 'string' },
      'router-id': { type: 'string' },
      'keep-forwarding': { type: 'boolean' },
      'allow-empty': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  switch (cmd) {
    case 'check':
      if (!values.config) throw new UsageError('check needs --config FILE');
      return check(values.config);
    case 'run':
      return runDaemon({
        ...(values.config ? { configPath: values.config } : {}),
        stateDir: values['state-dir'] ?? process.env.FERROLB_STATE_DIR ?? '/var/lib/ferrolb',
        listen: parseListen(values.api ?? process.env.FERROLB_API_LISTEN ?? '127.0.0.1:11111'),
        ...(values['api-token-file'] ? { tokenFile: values['api-token-file'] } : {}),
        dataplane: onOff('--dataplane', values.dataplane ?? process.env.FERROLB_DATAPLANE, true),
        probes: onOff('--probes', values.probes ?? process.env.FERROLB_PROBES, true),
        keepForwarding: values['keep-forwarding'] ?? false,
        allowEmpty: values['allow-empty'] ?? false,
        bgpPort: portOrOff('--bgp-port', values['bgp-port'] ?? '179'),
        ...(values['router-id'] ? { routerId: values['router-id'] } : {}),
      });
    case 'version':
      console.log(VERSION);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

/** Entry point of the `ferrolb` binary. */
export function runFerrolb(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof StartupError) {
        console.error(`ferrolb: ${e.message}`);
        for (const i of e.issues) console.error(`  error: ${formatIssue(i)}`);
      } else if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        console.error(`ferrolb: ${(e as Error).message}\n${USAGE}`);
        process.exitCode = 2;
        return;
      } else {
        console.error(`ferrolb: ${(e as Error).stack ?? String(e)}`);
      }
      process.exitCode = 1;
    },
  );
}
