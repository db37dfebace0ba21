// Annotation names ferrolb reads on Services. Our own `ferrolb.io/*` names are canonical; MetalLB's
// (`metallb.io/*`, and the older `metallb.universe.tf/*`) and kube-loxilb's (`loxilb.io/*`) are read
// unchanged so users migrate without rewriting manifests. Order = precedence when several are set.

export const ANNOTATIONS = {
  loadBalancerIPs: [
    'ferrolb.io/loadBalancerIPs',
    'metallb.io/loadBalancerIPs',
    'metallb.universe.tf/loadBalancerIPs',
  ],
  addressPool: [
    'ferrolb.io/address-pool',
    'metallb.io/address-pool',
    'metallb.universe.tf/address-pool',
    'loxilb.io/poolSelect',
  ],
  allowSharedIp: [
    'ferrolb.io/allow-shared-ip',
    'metallb.io/allow-shared-ip',
    'metallb.universe.tf/allow-shared-ip',
  ],
  mode: ['ferrolb.io/mode', 'loxilb.io/lbmode'],
  algorithm: ['ferrolb.io/algorithm', 'loxilb.io/epselect'],
  healthCheck: ['ferrolb.io/health-check', 'loxilb.io/probetype'],
  healthCheckPort: ['ferrolb.io/health-check-port', 'loxilb.io/probeport'],
  healthCheckPath: ['ferrolb.io/health-check-path'],
  healthCheckInterval: ['ferrolb.io/health-check-interval'],
  healthCheckTimeout: ['ferrolb.io/health-check-timeout'],
  liveness: ['loxilb.io/liveness'],
  persistTimeout: ['ferrolb.io/persist-timeout', 'loxilb.io/timeout'],
  maglevTableSize: ['ferrolb.io/maglev-table-size'],
  secondaryIPs: ['ferrolb.io/secondary-ips', 'loxilb.io/secondaryIPs'],
  secondaryPools: ['ferrolb.io/secondary-pools', 'loxilb.io/poolSelectSecondary'],
  numSecondaryNetworks: ['loxilb.io/num-secondary-networks'],
  endpointType: ['ferrolb.io/endpoint-type'],
  // Kubernetes' own, older than spec.loadBalancerSourceRanges (which wins when both are set).
  sourceRanges: ['service.beta.kubernetes.io/load-balancer-source-ranges'],
} as const;

/** Written by the controller: the durable record of what a Service holds, so restarts never move it. */
export const ALLOCATED = 'ferrolb.io/allocated';
export const ALLOCATED_SECONDARY = 'ferrolb.io/allocated-secondary';
/** Written for tools that know MetalLB (same meaning as MetalLB's own). */
export const ALLOCATED_FROM_POOL = 'metallb.io/ip-allocated-from-pool';
/** On the mapped LoadBalancer object: nodes that may announce (externalTrafficPolicy Local). */
export const ANNOUNCE_NODES = 'ferrolb.io/announce-nodes';
/** On the mapped LoadBalancer object: the Service it came from ("namespace/name"). */
export const SOURCE_SERVICE = 'ferrolb.io/service';

export const CONDITION_TYPE = 'ferrolb.io/AddressAllocated';
export const DEFAULT_CLASS = 'ferrolb.io/ferrolb';
export const LOXILB_CLASS = 'loxilb.io/loxilb';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type AnnotationKey = keyof typeof ANNOTATIONS;
