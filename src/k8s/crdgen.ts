// CustomResourceDefinitions for ferrolb.io/v1, generated: IPAddressPool's schema comes from the model's
// own JSON Schema (src/model/schema.ts), so the CRD, the REST API and the validator cannot drift. The
// BGP/L2 kinds' shapes follow MetalLB's (plus our additions, as src/model/bgp.ts accepts them).
// Kubernetes wants *structural* schemas: a type on every node, no `additionalProperties: false`, no
// `uniqueItems`, no `const` — `structural()` converts. Unknown fields are pruned by the API server;
// the controller's whole-set validation still reports what it cannot use.
import { stringify } from 'yaml';
import { labelSelectorSchema, poolSpecSchema } from '../model/schema.js';

type Schema = Record<string, unknown>;

export function structural(s: unknown): Schema {
  if (s === null || typeof s !== 'object') return {};
  const src = s as Schema;
  if (Object.keys(src).length === 0) return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const out: Schema = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'uniqueItems' || k === '$schema') continue;
    if (k === 'additionalProperties') {
      if (v && typeof v === 'object') out.additionalProperties = structural(v);
      continue;
    }
    if (k === 'const') {
      out.enum = [v];
      continue;
    }
    if (k === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(v as Schema).map(([p, sub]) => [p, structural(sub)]),
      );
      continue;
    }
    if (k === 'items') {
      out.items = structural(v);
      continue;
    }
    out[k] = Array.isArray(v) ? [...(v as unknown[])] : v;
  }
  if (out.type === undefined) {
    const e = out.enum as unknown[] | undefined;
    out.type = e && e.length > 0 ? (typeof e[0] === 'number' ? 'integer' : typeof e[0]) : 'object';
  }
  return out;
}

const str = { type: 'string' };
const strs = { type: 'array', items: str };
const int = (minimum?: number, maximum?: number) => ({
  type: 'integer',
  ...(minimum !== undefined ? { minimum } : {}),
  ...(maximum !== undefined ? { maximum } : {}),
});
const bool = { type: 'boolean' };
const selectors = { type: 'array', items: labelSelectorSchema };
const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$' };

/** Written by the agent of spec.node for its session with spec.peer (src/k8s/bgpstate.ts). */
const BGP_SESSION_STATE_SPEC: Schema = {
  type: 'object',
  required: ['node', 'peer'],
  properties: { node: str, peer: str, peerAddress: str },
};
const BGP_SESSION_STATE_STATUS: Schema = {
  sessionState: {
    type: 'string',
    enum: ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'],
  },
  establishedTime: { type: 'string', format: 'date-time' },
  prefixesSent: int(0),
  prefixesReceived: int(0),
  peerASN: int(0, 4294967295),
  localASN: int(0, 4294967295),
  bfdState: str,
  lastError: str,
  lastTransitionTime: { type: 'string', format: 'date-time' },
};

const SPECS: Record<string, Schema> = {
  IPAddressPool: poolSpecSchema as unknown as Schema,
  L2Advertisement: {
    type: 'object',
    properties: {
      ipAddressPools: strs,
      ipAddressPoolSelectors: selectors,
      nodeSelectors: selectors,
      interfaces: strs,
      serviceSelectors: selectors,
    },
  },
  BGPAdvertisement: {
    type: 'object',
    properties: {
      aggregationLength: int(0, 32),
      aggregationLengthV6: int(0, 128),
      localPref: int(0, 4294967295),
      communities: strs,
      ipAddressPools: strs,
      ipAddressPoolSelectors: selectors,
      nodeSelectors: selectors,
      peers: strs,
      med: int(0, 4294967295),
      asPathPrepend: int(0, 16),
    },
  },
  BGPPeer: {
    type: 'object',
    required: ['myASN', 'peerAddress'],
    properties: {
      myASN: int(1, 4294967295),
      peerASN: int(1, 4294967295),
      dynamicASN: { type: 'string', enum: ['internal', 'external'] },
      peerAddress: str,
      peerPort: int(1, 65535),
      sourceAddress: str,
      holdTime: duration,
      keepaliveTime: duration,
      connectTime: duration,
      routerID: str,
      nodeSelectors: selectors,
      password: str,
      passwordSecret: { type: 'object', properties: { name: str, namespace: str } },
      bfdProfile: str,
      enableGracefulRestart: bool,
      ebgpMultiHop: bool,
      vrf: str,
      disableMP: bool,
      passive: bool,
      nextHopV4: str,
      nextHopV6: str,
    },
  },
  BFDProfile: {
    type: 'object',
    properties: {
      receiveInterval: int(10, 60000),
      transmitInterval: int(10, 60000),
      detectMultiplier: int(2, 255),
      echoInterval: int(10, 60000),
      echoMode: bool,
      passiveMode: bool,
      minimumTtl: int(1, 254),
    },
  },
  Community: {
    type: 'object',
    properties: {
      communities: {
        type: 'array',
        items: { type: 'object', required: ['name', 'value'], properties: { name: str, value: str } },
      },
    },
  },
  BGPSessionState: BGP_SESSION_STATE_SPEC,
};

const col = (name: string, jsonPath: string, type = 'string', priority = 0) => ({
  name,
  type,
  jsonPath,
  ...(priority ? { priority } : {}),
});
const AGE = col('Age', '.metadata.creationTimestamp', 'date');
const VALID = col('Valid', `.status.conditions[?(@.type=="Valid")].status`);

const COLUMNS: Record<string, object[]> = {
  IPAddressPool: [
    col('Addresses', '.spec.addresses'),
    col('Auto Assign', '.spec.autoAssign', 'boolean'),
    col('Avoid Buggy IPs', '.spec.avoidBuggyIPs', 'boolean'),
    col('Priority', '.spec.serviceAllocation.priority', 'integer', 1),
    col('Assigned IPv4', '.status.assignedIPv4', 'integer', 1),
    col('Available IPv4', '.status.availableIPv4', 'integer', 1),
    col('Assigned IPv6', '.status.assignedIPv6', 'integer', 1),
    VALID,
    AGE,
  ],
  L2Advertisement: [
    col('IPAddressPools', '.spec.ipAddressPools'),
    col('Interfaces', '.spec.interfaces'),
    VALID,
    AGE,
  ],
  BGPAdvertisement: [
    col('IPAddressPools', '.spec.ipAddressPools'),
    col('Peers', '.spec.peers'),
    col('Communities', '.spec.communities', 'string', 1),
    VALID,
    AGE,
  ],
  BGPPeer: [
    col('Address', '.spec.peerAddress'),
    col('ASN', '.spec.myASN', 'integer'),
    col('Peer ASN', '.spec.peerASN', 'integer'),
    col('BFD Profile', '.spec.bfdProfile', 'string', 1),
    VALID,
    AGE,
  ],
  BFDProfile: [
    col('Receive', '.spec.receiveInterval', 'integer'),
    col('Transmit', '.spec.transmitInterval', 'integer'),
    col('Multiplier', '.spec.detectMultiplier', 'integer'),
    AGE,
  ],
  Community: [AGE],
  BGPSessionState: [
    col('Node', '.spec.node'),
    col('Peer', '.spec.peer'),
    col('State', '.status.sessionState'),
    col('Uptime', '.status.establishedTime', 'date'),
    col('Sent', '.status.prefixesSent', 'integer'),
    col('Received', '.status.prefixesReceived', 'integer', 1),
    col('BFD', '.status.bfdState', 'string', 1),
    col('Last Error', '.status.lastError', 'string', 1),
    AGE,
  ],
};

const NAMES: Record<string, { plural: string; singular: string; short: string[] }> = {
  IPAddressPool: { plural: 'ipaddresspools', singular: 'ipaddresspool', short: ['ippool'] },
  L2Advertisement: { plural: 'l2advertisements', singular: 'l2advertisement', short: ['l2adv'] },
  BGPAdvertisement: { plural: 'bgpadvertisements', singular: 'bgpadvertisement', short: ['bgpadv'] },
  BGPPeer: { plural: 'bgppeers', singular: 'bgppeer', short: [] },
  BFDProfile: { plural: 'bfdprofiles', singular: 'bfdprofile', short: [] },
  Community: { plural: 'communities', singular: 'community', short: [] },
  BGPSessionState: { plural: 'bgpsessionstates', singular: 'bgpsessionstate', short: ['bgpstate'] },
};

export const CRD_KIND_NAMES = Object.keys(SPECS);

export function crdFor(kind: string): Schema {
  const n = NAMES[kind];
  const spec = SPECS[kind];
  if (!n || !spec) throw new Error(`no CRD for kind ${kind}`);
  const specSchema = structural(spec);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${n.plural}.ferrolb.io`, labels: { 'app.kubernetes.io/name': 'ferrolb' } },
    spec: {
      group: 'ferrolb.io',
      scope: 'Namespaced',
      names: {
        kind,
        listKind: `${kind}List`,
        plural: n.plural,
        singular: n.singular,
        ...(n.short.length > 0 ? { shortNames: n.short } : {}),
        categories: ['ferrolb'],
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: COLUMNS[kind] ?? [AGE],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: str,
                kind: str,
                metadata: { type: 'object' },
                spec: specSchema,
                status: {
                  type: 'object',
                  properties: {
                    conditions: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['type', 'status'],
                        properties: {
                          type: str,
                          status: str,
                          reason: str,
                          message: str,
                          lastTransitionTime: { type: 'string', format: 'date-time' },
                          observedGeneration: { type: 'integer' },
                        },
                      },
                    },
                    ...(kind === 'BGPSessionState' ? BGP_SESSION_STATE_STATUS : {}),
                    ...(kind === 'IPAddressPool'
                      ? Object.fromEntries(
                          ['assignedIPv4', 'assignedIPv6', 'availableIPv4', 'availableIPv6'].map((k) => [
                            k,
                            { type: 'integer', format: 'int64' },
                          ]),
                        )
                      : {}),
                  },
                  'x-kubernetes-preserve-unknown-fields': true,
                },
              },
            },
          },
        },
      ],
    },
  };
}

/**
 * ServiceL2Status (src/k8s/l2status.ts): written by the agents, read by users — MetalLB's shape.
 * No status subresource: the agent writes the whole object in one call (create, merge patch).
 */
export function serviceL2StatusCrd(): Schema {
  const iface = { type: 'object', properties: { name: str } };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'servicel2statuses.ferrolb.io', labels: { 'app.kubernetes.io/name': 'ferrolb' } },
    spec: {
      group: 'ferrolb.io',
      scope: 'Namespaced',
      names: {
        kind: 'ServiceL2Status',
        listKind: 'ServiceL2StatusList',
        plural: 'servicel2statuses',
        singular: 'servicel2status',
        categories: ['ferrolb'],
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          additionalPrinterColumns: [
            col('Allocated Node', '.status.node'),
            col('Service Name', '.status.serviceName'),
            col('Service Namespace', '.status.serviceNamespace'),
            col('Addresses', '.status.addresses', 'string', 1),
            AGE,
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: str,
                kind: str,
                metadata: { type: 'object' },
                spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                status: {
                  type: 'object',
                  properties: {
                    node: str,
                    serviceName: str,
                    serviceNamespace: str,
                    addresses: strs,
                    interfaces: { type: 'array', items: iface },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

/** Every CRD as one multi-document YAML file (deploy/crds/ferrolb.io.yaml). */
export function renderCrds(): string {
  const header = '# Generated by `node deploy/generate-crds.mjs` from src/k8s/crdgen.ts; do not edit.\n';
  return (
    header +
    [...CRD_KIND_NAMES.map(crdFor), serviceL2StatusCrd()]
      .map((c) => `---\n${stringify(c, { lineWidth: 0, aliasDuplicateObjects: false })}`)
      .join('')
  );
}
