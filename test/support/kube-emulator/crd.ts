// CustomResourceDefinitions as a real server treats them: a CR type is served from the moment its CRD
// is Established until the CRD is deleted (which deletes every CR and ends their watches). The
// emulator establishes a CRD as soon as it is created, as kube-apiserver's establishing controller
// does within milliseconds when names do not clash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ResourceType } from './resources.js';
import { rfc3339, type Json } from './store.js';

export interface CrdVersion {
  readonly type: ResourceType;
  readonly schema: Record<string, unknown>;
}

/** The types an Established CRD serves, one per served version. */
export function servedVersions(crd: Json): CrdVersion[] {
  const conditions = (((crd.status ?? {}) as Json).conditions ?? []) as Json[];
  if (!conditions.some((c) => c.type === 'Established' && c.status === 'True')) return [];
  const spec = crd.spec as Json;
  const names = spec.names as Json;
  const versions = (spec.versions ?? []) as Json[];
  return versions
    .filter((v) => v.served === true)
    .map((v) => ({
      type: {
        group: String(spec.group),
        version: String(v.name),
        plural: String(names.plural),
        kind: String(names.kind),
        namespaced: spec.scope === 'Namespaced',
        statusSubresource: ((v.subresources ?? {}) as Json).status !== undefined,
        custom: true,
        shortNames: (names.shortNames ?? []) as string[],
      },
      schema: ((v.schema ?? {}) as Json).openAPIV3Schema as Record<string, unknown>,
    }));
}

/** The status kube-apiserver's controllers give a CRD whose names are accepted. */
export function establishedStatus(crd: Json): Json {
  const now = rfc3339();
  const cond = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    reason,
    message,
    lastTransitionTime: now,
  });
  return {
    conditions: [
      cond('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    acceptedNames: (crd.spec as Json).names,
    storedVersions: ((crd.spec as Json).versions as Json[]).filter((v) => v.storage).map((v) => v.name),
  };
}

const ROOT = join(import.meta.dirname, '../../../..');

/** The CRDs ferrolb ships (deploy/crds), as objects to create. */
export function ferrolbCrds(): Json[] {
  return parseAllDocuments(readFileSync(join(ROOT, 'deploy/crds/ferrolb.io.yaml'), 'utf8'))
    .map((d) => d.toJSON() as Json | null)
    .filter((o): o is Json => o !== null);
}

// MetalLB's kinds at the versions ferrolb reads. Not MetalLB's own CRDs (not shipped here): the spec
// and status are kept as sent, which is looser than MetalLB's schema but serves them as MetalLB does.
const METALLB: [string, string, string][] = [
  ['ipaddresspools', 'IPAddressPool', 'v1beta1'],
  ['l2advertisements', 'L2Advertisement', 'v1beta1'],
  ['bgpadvertisements', 'BGPAdvertisement', 'v1beta1'],
  ['bgppeers', 'BGPPeer', 'v1beta2'],
  ['bfdprofiles', 'BFDProfile', 'v1beta1'],
  ['communities', 'Community', 'v1beta1'],
];

export function metallbCrds(): Json[] {
  const loose = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return METALLB.map(([plural, kind, version]) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.metallb.io` },
    spec: {
      group: 'metallb.io',
      scope: 'Namespaced',
      names: { plural, kind, listKind: `${kind}List`, singular: kind.toLowerCase() },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: loose,
                status: loose,
              },
            },
          },
        },
      ],
    },
  }));
}
