// JSON Schemas for the object kinds. One source for: structural validation (ajv), the OpenAPI
// description of the REST API, and (later) the CRDs' openAPIV3Schema. Semantic checks that a schema
// cannot express (CIDR syntax, overlaps, references) live in validate.ts.
import {
  ALGORITHMS,
  HEALTH_CHECK_TYPES,
  IP_FAMILIES,
  IP_FAMILY_POLICIES,
  MAX_SECONDARY_ADDRESSES,
  MODES,
  PROTOCOLS,
} from './types.js';

const str = { type: 'string' } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$' } as const;
const stringMap = { type: 'object', additionalProperties: str } as const;
/** Kubernetes label rules: keys up to 253 + "/" + 63 characters, values up to 63. */
const labelMap = {
  type: 'object',
  propertyNames: { maxLength: 317 },
  additionalProperties: { type: 'string', maxLength: 63 },
} as const;
const ref = { type: 'string', minLength: 1, maxLength: 253 } as const;

export const labelSelectorSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    matchLabels: stringMap,
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'operator'],
        properties: {
          key: str,
          operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', items: str },
        },
      },
    },
  },
} as const;

export const metadataSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
    namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    labels: labelMap,
    annotations: stringMap,
  },
} as const;

export const poolSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['addresses'],
  properties: {
    addresses: { type: 'array', items: str },
    autoAssign: { type: 'boolean' },
    avoidBuggyIPs: { type: 'boolean' },
    serviceAllocation: {
      type: 'object',
      additionalProperties: false,
      properties: {
        priority: { type: 'integer', minimum: 0 },
        namespaces: { type: 'array', items: str },
        namespaceSelectors: { type: 'array', items: labelSelectorSchema },
        serviceSelectors: { type: 'array', items: labelSelectorSchema },
      },
    },
  },
} as const;

export const loadBalancerSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ports'],
  properties: {
    pool: ref,
    addresses: { type: 'array', items: str, maxItems: 2 },
    ipFamilies: { type: 'array', items: { enum: IP_FAMILIES }, minItems: 1, maxItems: 2, uniqueItems: true },
    ipFamilyPolicy: { enum: IP_FAMILY_POLICIES },
    secondaryPools: { type: 'array', items: ref, maxItems: MAX_SECONDARY_ADDRESSES },
    secondaryAddresses: { type: 'array', items: str, maxItems: MAX_SECONDARY_ADDRESSES },
    sharingKey: { type: 'string', minLength: 1, maxLength: 253 },
    ports: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['port'],
        properties: {
          name: { type: 'string', maxLength: 63 },
          port,
          protocol: { enum: PROTOCOLS },
          targetPort: port,
        },
      },
    },
    mode: { enum: MODES },
    algorithm: { enum: ALGORITHMS },
    persistTimeout: duration,
    maglevTableSize: { type: 'integer', minimum: 2, maximum: 65_521 },
    flushOnInactive: { type: 'boolean' },
    snatAddresses: { type: 'array', items: str, maxItems: 2 },
    sourceRanges: { type: 'array', items: str, maxItems: 1000 },
    endpoints: {
      type: 'array',
      maxItems: 65_535,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['address'],
        properties: {
          address: str,
          weight: { type: 'integer', minimum: 1, maximum: 1000 },
        },
      },
    },
    healthCheck: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: HEALTH_CHECK_TYPES },
        port,
        path: { type: 'string', pattern: '^/' },
        interval: duration,
        timeout: duration,
        unhealthyThreshold: { type: 'integer', minimum: 1, maximum: 100 },
        healthyThreshold: { type: 'integer', minimum: 1, maximum: 100 },
        expectStatus: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 100, maximum: 599 } },
        udpSilence: { enum: ['up', 'down'] },
        udpPayload: { type: 'string', minLength: 1, maxLength: 1024 },
      },
    },
  },
} as const;

const objectSchema = (kind: string, versions: readonly string[], spec: object) =>
  ({
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    additionalProperties: false,
    properties: {
      apiVersion: { enum: versions },
      kind: { const: kind },
      metadata: metadataSchema,
      spec,
      status: {},
    },
  }) as const;

export const poolObjectSchema = objectSchema(
  'IPAddressPool',
  ['ferrolb.io/v1', 'metallb.io/v1beta1'],
  poolSpecSchema,
);
export const loadBalancerObjectSchema = objectSchema(
  'LoadBalancer',
  ['ferrolb.io/v1'],
  loadBalancerSpecSchema,
);
