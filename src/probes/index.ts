// Public surface of the health-probe subsystem (docs/probes.md). The daemon needs ProbeScheduler
// and probeTargets; the probers are exported for tools and tests.
export {
  ProbeScheduler,
  SchedulerStoppedError,
  DuplicateTargetError,
  realTimers,
  targetKey,
} from './scheduler.js';
export type { ProbeTarget, OnChange, SchedulerOptions, EndpointHealth, Timers } from './scheduler.js';
export { probeTargets, type ProbedService } from './targets.js';
export {
  observe,
  initialHealth,
  checkThresholds,
  InvalidThresholdError,
  type HealthRecord,
  type Thresholds,
  type Transition,
  type Verdict,
} from './health.js';
export { PROBERS, InvalidProbeRequestError, type ProbingType } from './probers/index.js';
export {
  probeTcp,
  probeUdp,
  probeHttp,
  probeHttps,
  probePing,
  probeSctp,
  statusOk,
  DEFAULT_UDP_PAYLOAD,
} from './probers/index.js';
export * from './types.js';
