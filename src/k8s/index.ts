// Public API of the Kubernetes front door.
export {
  runController,
  type Controller,
  type ControllerOptions,
  type ControllerMetrics,
} from './controller.js';
export { agentModel, type AgentModel } from './agent.js';
export { runAgentWatch, type AgentWatch, type AgentWatchOptions } from './agent-watch.js';
export {
  plan,
  emptyMemory,
  persistedAllocation,
  type ClusterView,
  type CoreConfig,
  type Plan,
} from './core.js';
export {
  mapService,
  claims,
  lbName,
  DEFAULT_MAPPING,
  type MappingConfig,
  type MappedService,
} from './mapping.js';
export { mapCustomResources } from './crds.js';
export { renderCrds, crdFor } from './crdgen.js';
export { LeaderElector, decide as leaseDecision } from './lease.js';
export { Reflector } from './reflector.js';
export * from './annotations.js';
