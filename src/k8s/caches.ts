// The watched caches both roles need: Services, EndpointSlices, Nodes and the configuration kinds
// (ferrolb.io, plus metallb.io when asked). Thin: each is a Reflector over a typed list call.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ClusterView } from './core.js';
import { CRD_KINDS, versionFor } from './crds.js';
import { Reflector, type Listed, type ReflectorOptions } from './reflector.js';
import type { KCustomObject, KEndpointSlice, KNamespace, KNode, KService } from './types.js';

export type WatchOptions = Pick<
  ReflectorOptions<never>,
  'stallMs' | 'watchTimeoutSeconds' | 'backoffInitialMs' | 'backoffMaxMs' | 'absentRetryMs'
>;

export const SERVICES_PATH = '/api/v1/services';

export interface Caches {
  readonly services: Reflector<KService>;
  readonly slices: Reflector<KEndpointSlice>;
  readonly nodes: Reflector<KNode>;
  readonly namespaces: Reflector<KNamespace>;
  readonly crs: readonly Reflector<KCustomObject>[];
  readonly all: readonly Reflector<KService | KEndpointSlice | KNode | KNamespace | KCustomObject>[];
  /** Resolves once every cache has listed once. */
  readonly ready: Promise<void>;
  view(): ClusterView;
  start(): void;
  stop(): Promise<void>;
}

export function makeCaches(
  kc: KubeConfig,
  metallbCompat: boolean,
  watch: WatchOptions,
  onChange: (path: string, obj?: KService | KEndpointSlice | KNode | KNamespace | KCustomObject) => void,
  log: (msg: string, extra?: Record<string, unknown>) => void,
): Caches {
  const core = kc.makeApiClient(CoreV1Api);
  const disc = kc.makeApiClient(DiscoveryV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const reflect = <T extends KService | KEndpointSlice | KNode | KNamespace | KCustomObject>(
    path: string,
    list: () => Promise<Listed<T>>,
  ) => new Reflector<T>({ kc, path, list, onChange: (obj) => onChange(path, obj), ...watch, log });
  const services = reflect<KService>(
    SERVICES_PATH,
    async () => (await core.listServiceForAllNamespaces()) as unknown as Listed<KService>,
  );
  const slices = reflect<KEndpointSlice>(
    '/apis/discovery.k8s.io/v1/endpointslices',
    async () => (await disc.listEndpointSliceForAllNamespaces()) as unknown as Listed<KEndpointSlice>,
  );
  const nodes = reflect<KNode>(
    '/api/v1/nodes',
    async () => (await core.listNode()) as unknown as Listed<KNode>,
  );
  // Namespace labels feed pools' serviceAllocation.namespaceSelectors.
  const namespaces = reflect<KNamespace>(
    '/api/v1/namespaces',
    async () => (await core.listNamespace()) as unknown as Listed<KNamespace>,
  );
  const groups = metallbCompat ? ['ferrolb.io', 'metallb.io'] : ['ferrolb.io'];
  const crs = groups.flatMap((group) =>
    CRD_KINDS.map(({ kind, plural }) => {
      const version = versionFor(group, kind);
      return reflect<KCustomObject>(
        `/apis/${group}/${version}/${plural}`,
        async () =>
          (await custom.listCustomObjectForAllNamespaces({
            group,
            version,
            plural,
          })) as Listed<KCustomObject>,
      );
    }),
  );
  const all = [services, slices, nodes, namespaces, ...crs] as Reflector<
    KService | KEndpointSlice | KNode | KNamespace | KCustomObject
  >[];
  return {
    services,
    slices,
    nodes,
    namespaces,
    crs,
    all,
    ready: Promise.all(all.map((r) => r.synced)).then(() => undefined),
    view: () => ({
      services: [...services.items.values()],
      slices: [...slices.items.values()],
      nodes: [...nodes.items.values()],
      namespaces: [...namespaces.items.values()],
      customObjects: crs.flatMap((r) => [...r.items.values()]),
    }),
    start: () => all.forEach((r) => r.start()),
    stop: async () => {
      await Promise.all(all.map((r) => r.stop()));
    },
  };
}
