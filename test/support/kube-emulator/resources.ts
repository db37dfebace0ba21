// The resource types the emulator serves. A real API server learns these from its built-in types and
// from CRDs; the emulator has a fixed table, which is all the controller and its tests need.

export interface ResourceType {
  readonly group: string; // '' for the core group
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** With a status subresource: PUT on the object ignores status, PUT on /status changes only status. */
  readonly statusSubresource: boolean;
}

const core = (plural: string, kind: string, namespaced: boolean, status: boolean): ResourceType => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
  statusSubresource: status,
});

const crd = (group: string, version: string, plural: string, kind: string, namespaced = true) => ({
  group,
  version,
  plural,
  kind,
  namespaced,
  statusSubresource: true,
});

const FERROLB_KINDS: [string, string][] = [
  ['ipaddresspools', 'IPAddressPool'],
  ['l2advertisements', 'L2Advertisement'],
  ['bgpadvertisements', 'BGPAdvertisement'],
  ['bgppeers', 'BGPPeer'],
  ['bfdprofiles', 'BFDProfile'],
  ['communities', 'Community'],
];

export const RESOURCE_TYPES: readonly ResourceType[] = [
  core('services', 'Service', true, true),
  core('nodes', 'Node', false, true),
  core('events', 'Event', true, false),
  core('namespaces', 'Namespace', false, true),
  core('endpoints', 'Endpoints', true, false),
  core('configmaps', 'ConfigMap', true, false),
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'events.k8s.io',
    version: 'v1',
    plural: 'events',
    kind: 'Event',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    kind: 'Lease',
    namespaced: true,
    statusSubresource: false,
  },
  ...FERROLB_KINDS.map(([p, k]) => crd('ferrolb.io', 'v1', p, k)),
  ...FERROLB_KINDS.filter(([, k]) => k !== 'BGPPeer').map(([p, k]) => crd('metallb.io', 'v1beta1', p, k)),
  crd('metallb.io', 'v1beta2', 'bgppeers', 'BGPPeer'),
];

export const apiVersionOf = (t: ResourceType): string => (t.group ? `${t.group}/${t.version}` : t.version);

/** Storage key: one store per (group, plural), shared by its versions as in a real server. */
export const storageKey = (t: ResourceType): string => `${t.group}/${t.plural}`;

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.plural === plural);
}
