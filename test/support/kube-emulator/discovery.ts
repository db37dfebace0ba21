// API discovery documents (/api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION) over the types
// served now, so a client that discovers (kubectl, dynamic clients) sees a CRD's kind appear and go.
import type { ResourceType } from './resources.js';
import type { Json } from './store.js';

function resourceList(groupVersion: string, types: readonly ResourceType[]): Json {
  const resources: Json[] = [];
  for (const t of types) {
    resources.push({
      name: t.plural,
      singularName: t.kind.toLowerCase(),
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      ...(t.shortNames?.length ? { shortNames: [...t.shortNames] } : {}),
    });
    if (t.statusSubresource)
      resources.push({
        name: `${t.plural}/status`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ['get', 'patch', 'update'],
      });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

function group(name: string, types: readonly ResourceType[]): Json {
  const versions = [...new Set(types.filter((t) => t.group === name).map((t) => t.version))].map((v) => ({
    groupVersion: `${name}/${v}`,
    version: v,
  }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0] };
}

/** The discovery document at `path`, or undefined (404). */
export function discovery(path: string, types: readonly ResourceType[]): Json | undefined {
  const seg = path.split('/').filter(Boolean);
  if (seg[0] === 'api') {
    if (seg.length === 1) return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
    if (seg.length === 2 && seg[1] === 'v1')
      return resourceList(
        'v1',
        types.filter((t) => t.group === ''),
      );
    return undefined;
  }
  if (seg[0] !== 'apis') return undefined;
  const groups = [...new Set(types.map((t) => t.group).filter(Boolean))].sort();
  if (seg.length === 1)
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => group(g, types)) };
  const [, g, v] = seg as [string, string, string | undefined];
  if (!groups.includes(g)) return undefined;
  if (seg.length === 2) return group(g, types);
  const of = types.filter((t) => t.group === g && t.version === v);
  return seg.length === 3 && of.length > 0 ? resourceList(`${g}/${v}`, of) : undefined;
}
