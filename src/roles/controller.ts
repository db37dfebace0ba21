// `ferrolb controller [flags]`: flags → ControllerOptions, run until SIGTERM/SIGINT, release the
// Lease on the way out. The integrator wires it as one `case 'controller'` in src/main/ferrolb.ts.
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../shell/log.js';
import { DEFAULT_CLASS } from '../k8s/annotations.js';
import { runController, type ControllerOptions } from '../k8s/controller.js';
import type { CoreConfig } from '../k8s/core.js';
import { Gauge } from 'prom-client';
import { newRegistry, registerCounters } from '../shell/metrics.js';
import { metricsComponent } from './components.js';
import { registerBuildInfo } from './metrics.js';
import { parseListen } from './run.js';
import { durationFlag, parseCommand, UsageError } from './usage.js';
import { Supervisor, type Component } from '../shell/component.js';
import { runRole } from './role.js';

export const CONTROLLER_USAGE = `usage: ferrolb controller [flags]
  --kubeconfig FILE          default: in-cluster, else $KUBECONFIG, else ~/.kube/config
  --lb-class NAME            spec.loadBalancerClass to serve (default ${DEFAULT_CLASS})
  --default-class            also serve LoadBalancer Services that name no class
  --loxilb-compat            also serve loadBalancerClass loxilb.io/loxilb (kube-loxilb manifests unchanged)
  --metallb-compat           also read metallb.io IPAddressPool (and other MetalLB) resources
  --secondary-pools A,B,C    pools for loxilb.io/num-secondary-networks (kube-loxilb's --externalSecondaryCIDRs)
  --leader-elect             elect a leader with a Lease (run several replicas)
  --lease-namespace NS       default $POD_NAMESPACE, else ferrolb-system
  --lease-name NAME          default ferrolb-controller
  --identity ID              default $POD_NAME, else hostname-pid
  --leader-elect-lease-duration D  how long a Lease holds without renewal (default 15s)
  --leader-elect-renew-deadline D  a leader that cannot renew for this long steps down (default 10s)
  --leader-elect-retry-period D    how often to try to acquire or renew (default 2s)
  --metrics-addr HOST:PORT   Prometheus metrics at /metrics (default 127.0.0.1:11112; "off" disables)`;

/** Flags both Kubernetes roles take: where the cluster is and which Services/resources are ours. */
export const CLUSTER_OPTIONS = {
  kubeconfig: { type: 'string' },
  'lb-class': { type: 'string' },
  'default-class': { type: 'boolean' },
  'loxilb-compat': { type: 'boolean' },
  'metallb-compat': { type: 'boolean' },
  'secondary-pools': { type: 'string' },
} as const;

type ClusterValues = {
  'lb-class'?: string;
  'default-class'?: boolean;
  'loxilb-compat'?: boolean;
  'metallb-compat'?: boolean;
  'secondary-pools'?: string;
};

export function mappingConfig(values: ClusterValues): CoreConfig {
  return {
    loadBalancerClass: values['lb-class'] ?? DEFAULT_CLASS,
    defaultClass: values['default-class'] ?? false,
    loxilbCompat: values['loxilb-compat'] ?? false,
    metallbCompat: values['metallb-compat'] ?? false,
    secondaryPools: (values['secondary-pools'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

export function parseControllerArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Omit<ControllerOptions, 'kubeConfig'> & { kubeconfig?: string; metricsAddr: string; help: boolean } {
  const { values } = parseCommand(
    argv,
    {
      ...CLUSTER_OPTIONS,
      'leader-elect': { type: 'boolean' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'leader-elect-lease-duration': { type: 'string' },
      'leader-elect-renew-deadline': { type: 'string' },
      'leader-elect-retry-period': { type: 'string' },
      'metrics-addr': { type: 'string' },
    },
    CONTROLLER_USAGE,
  );
  const identity = values.identity ?? env.POD_NAME;
  return {
    help: values.help ?? false,
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    config: mappingConfig(values),
    leaderElection: values['leader-elect']
      ? {
          namespace: values['lease-namespace'] ?? env.POD_NAMESPACE ?? 'ferrolb-system',
          name: values['lease-name'] ?? 'ferrolb-controller',
          ...leaseTimings(values),
        }
      : false,
    ...(identity ? { identity } : {}),
    metricsAddr: values['metrics-addr'] ?? '127.0.0.1:11112',
  };
}

/**
 * The Lease timings, checked as client-go checks them: the lease must outlast the renew deadline (a
 * leader steps down before anyone else may take over), and the deadline must allow more than one try.
 */
function leaseTimings(values: {
  'leader-elect-lease-duration'?: string;
  'leader-elect-renew-deadline'?: string;
  'leader-elect-retry-period'?: string;
}): { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number } {
  const leaseDurationMs = durationFlag(
    '--leader-elect-lease-duration',
    values['leader-elect-lease-duration'],
    15_000,
  );
  const renewDeadlineMs = durationFlag(
    '--leader-elect-renew-deadline',
    values['leader-elect-renew-deadline'],
    10_000,
  );
  const retryPeriodMs = durationFlag(
    '--leader-elect-retry-period',
    values['leader-elect-retry-period'],
    2_000,
  );
  if (leaseDurationMs <= renewDeadlineMs)
    throw new UsageError(
      `--leader-elect-lease-duration: ${leaseDurationMs} ms must be longer than --leader-elect-renew-deadline (${renewDeadlineMs} ms)`,
    );
  if (renewDeadlineMs <= retryPeriodMs)
    throw new UsageError(
      `--leader-elect-renew-deadline: ${renewDeadlineMs} ms must be longer than --leader-elect-retry-period (${retryPeriodMs} ms)`,
    );
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
}

/** Runs the controller in the foreground; resolves with the exit code after SIGTERM/SIGINT. */
export async function controllerMain(argv: string[]): Promise<number> {
  const { help, kubeconfig, metricsAddr, ...opts } = parseControllerArgs(argv);
  if (help) {
    console.log(CONTROLLER_USAGE);
    return 0;
  }
  const metricsListen = metricsAddr === 'off' ? undefined : parseListen(metricsAddr, '--metrics-addr');
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  const log = createLogger('ferrolb-controller');
  let c: ReturnType<typeof runController> | undefined;
  const registry = () => {
    const reg = newRegistry();
    registerBuildInfo(reg, 'controller');
    const help = {
      reconciles: 'Reconcile passes',
      apiWrites: 'Writes to the API server',
      writeConflicts: 'Writes refused with 409 Conflict and retried',
      writeErrors: 'Writes that failed',
      events: 'Events recorded',
      configInvalid: 'Times the configuration was found invalid (the last good one kept serving)',
    };
    // Bound before the controller starts: zeros until it runs.
    const zero = Object.fromEntries(Object.keys(help).map((k) => [k, 0]));
    registerCounters(reg, 'ferrolb_controller', () => ({ ...zero, ...(c?.metrics ?? {}) }), help);
    new Gauge({
      name: 'ferrolb_controller_leader',
      help: '1 while this replica holds the Lease',
      registers: [reg],
      collect() {
        this.set(c?.isLeader() ? 1 : 0);
      },
    });
    return reg;
  };
  // The role as components: the metrics endpoint is bound first (a taken port fails before the
  // controller writes anything), then the controller itself.
  const controller: Component = {
    name: 'controller',
    start: async () => {
      c = runController({ ...opts, kubeConfig: kc, log });
    },
    stop: async () => {
      await c?.stop();
      c = undefined;
    },
  };
  const components = [...(metricsListen ? [metricsComponent(metricsListen, registry, log)] : []), controller];
  return runRole(new Supervisor(components, { log }), log, {
    running: () =>
      log.info({ config: opts.config, leaderElection: opts.leaderElection }, 'controller started'),
  });
}
