// Pure: custom resources (ours, ferrolb.io/v1, or MetalLB's metallb.io kinds read unchanged) → the
// raw objects the model validates. Only the kinds the model knows are passed on (today IPAddressPool);
// the other kinds are kept in `pending` so adding them to the model needs no change here.
import type { ConfigIssue } from '../model/issues.js';
import { SUPPORTED_KINDS } from '../model/validate.js';
import type { RawObject } from '../model/types.js';
import type { KCustomObject } from './types.js';

export const CRD_GROUPS = ['ferrolb.io', 'metallb.io'] as const;

export const CRD_KINDS = [
  { kind: 'IPAddressPool', plural: 'ipaddresspools', short: 'ippool' },
  { kind: 'L2Advertisement', plural: 'l2advertisements', short: 'l2adv' },
  { kind: 'BGPAdvertisement', plural: 'bgpadvertisements', short: 'bgpadv' },
  { kind: 'BGPPeer', plural: 'bgppeers', short: 'bgppeer' },
  { kind: 'BFDProfile', plural: 'bfdprofiles', short: 'bfd' },
  { kind: 'Community', plural: 'communities', short: 'community' },
] as const;

/** The API versions watched per group (MetalLB's BGPPeer is served as v1beta2). */
export function versionFor(group: string, kind: string): string {
  if (group === 'ferrolb.io') return 'v1';
  return kind === 'BGPPeer' ? 'v1beta2' : 'v1beta1';
}

export interface MappedConfig {
  readonly objects: RawObject[];
  /** Objects of kinds the model does not validate yet, passed through for later consumers. */
  readonly pending: RawObject[];
  readonly issues: ConfigIssue[];
  /** Model label ("IPAddressPool/name") → the custom resources it came from ("group/namespace/name"). */
  readonly sources: Map<string, string[]>;
}

export const crKey = (o: KCustomObject): string =>
  `${(o.apiVersion ?? '').split('/')[0]}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

export function mapCustomResources(crs: readonly KCustomObject[], enableMetallb: boolean): MappedConfig {
  const objects: RawObject[] = [];
  const pending: RawObject[] = [];
  const issues: ConfigIssue[] = [];
  const sources = new Map<string, string[]>();
  const sorted = [...crs].sort((a, b) => crKey(a).localeCompare(crKey(b)));
  for (const cr of sorted) {
    const group = (cr.apiVersion ?? '').split('/')[0];
    if (group === 'metallb.io' && !enableMetallb) continue;
    if (group !== 'ferrolb.io' && group !== 'metallb.io') continue;
    const name = cr.metadata.name ?? '';
    const raw: RawObject = {
      // The model accepts metallb.io/v1beta1 IPAddressPool unchanged; other MetalLB versions map to ours.
      apiVersion:
        group === 'metallb.io' && cr.apiVersion === 'metallb.io/v1beta1' ? cr.apiVersion : 'ferrolb.io/v1',
      kind: cr.kind,
      metadata: {
        name,
        ...(cr.metadata.namespace ? { namespace: cr.metadata.namespace } : {}),
        ...(cr.metadata.labels ? { labels: { ...cr.metadata.labels } } : {}),
      },
      spec: cr.spec ?? {},
    };
    const label = `${cr.kind}/${name}`;
    const list = sources.get(label) ?? [];
    list.push(crKey(cr));
    sources.set(label, list);
    if (SUPPORTED_KINDS.includes(cr.kind ?? '')) objects.push(raw);
    else pending.push(raw);
  }
  // Pool names are cluster-wide in the model; two resources with one name (e.g. ours and MetalLB's) clash.
  for (const [label, from] of sources)
    if (from.length > 1)
      issues.push({
        object: label,
        field: 'metadata.name',
        value: label.split('/')[1],
        message: `defined by more than one resource (${from.join(', ')}); names must be unique across namespaces and groups`,
      });
  return { objects, pending, issues, sources };
}
