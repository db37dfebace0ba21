// The resource types the emulator serves. Built-in types are a fixed table, as in a real API server;
// custom resources exist only while an Established CustomResourceDefinition says so (crd.ts turns
// CRD objects into ResourceTypes), so a client sees 404 for a kind whose CRD is not installed.

export interface ResourceType {
  readonly group: string; // '' for the core group
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** With a status subresource: PUT on the object ignores status, PUT on /status changes only status. */
  readonly statusSubresource: boolean;
  /** Served from a CRD: strategic merge patch is refused (415), the CRD's schema validates. */
  readonly custom?: boolean;
  readonly shortNames?: readonly string[];
}

const core = (plural: string, kind: string, namespaced: boolean, status: boolean): ResourceType => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
  statusSubresource: status,
});

const typed = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  status = false,
): ResourceType => ({ group, version, plural, kind, namespaced, statusSubresource: status });

export const CRD_TYPE = typed(
  'apiextensions.k8s.io',
  'v1',
  'customresourcedefinitions',
  'CustomResourceDefinition',
  false,
  true,
);

const RBAC = 'rbac.authorization.k8s.io';

export const BUILTIN_TYPES: readonly ResourceType[] = [
  core('services', 'Service', true, true),
  core('nodes', 'Node', false, true),
  core('events', 'Event', true, false),
  core('namespaces', 'Namespace', false, true),
  core('endpoints', 'Endpoints', true, false),
  core('configmaps', 'ConfigMap', true, false),
  core('serviceaccounts', 'ServiceAccount', true, false),
  typed('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true),
  typed('events.k8s.io', 'v1', 'events', 'Event', true),
  typed('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
  typed(RBAC, 'v1', 'roles', 'Role', true),
  typed(RBAC, 'v1', 'rolebindings', 'RoleBinding', true),
  typed(RBAC, 'v1', 'clusterroles', 'ClusterRole', false),
  typed(RBAC, 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  CRD_TYPE,
];

export const apiVersionOf = (t: ResourceType): string => (t.group ? `${t.group}/${t.version}` : t.version);

/** Storage key: one store per (group, plural), shared by its versions as in a real server. */
export const storageKey = (t: ResourceType): string => `${t.group}/${t.plural}`;

/** A built-in type (CRD-served types are looked up through the emulator: `emu.resource(...)`). */
export function findBuiltin(group: string, version: string, plural: string): ResourceType | undefined {
  return BUILTIN_TYPES.find((t) => t.group === group && t.version === version && t.plural === plural);
}
