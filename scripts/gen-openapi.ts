// Generates docs/openapi.json from the same JSON Schemas the validator uses, so the API description
// cannot drift from what the server accepts. `node dist/scripts/gen-openapi.js [--check]`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBalancerObjectSchema, poolObjectSchema } from '../src/model/schema.js';
import { VERSION } from '../src/version.js';

const REPO = join(import.meta.dirname, '../..');
const OUT = join(REPO, 'docs/openapi.json');

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const errors = {
  '400': { description: 'Malformed body', ...json(ref('Error')) },
  '401': { description: 'Missing or wrong bearer token', ...json(ref('Error')) },
  '422': {
    description: 'The change would make the configuration invalid; issues name object, field and value',
    ...json(ref('Error')),
  },
};
const body = (schema: object) => ({
  required: true,
  content: { 'application/json': { schema }, 'application/yaml': { schema } },
});
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };

/** Kubernetes-style paging of a listing (LoadBalancers: `ferroctl get lb` reads 500 at a time). */
const pagingParams = [
  {
    name: 'limit',
    in: 'query',
    description:
      'At most this many items (1..10000), in name order; the answer is compact JSON with metadata.continue when more follow',
    schema: { type: 'integer', minimum: 1, maximum: 10000 },
  },
  {
    name: 'continue',
    in: 'query',
    description: "metadata.continue of the previous page (needs limit): the page after that one's last item",
    schema: { type: 'string' },
  },
  {
    name: 'counters',
    in: 'query',
    description: 'false: leave the packet/byte counters out (cheaper)',
    schema: { type: 'boolean' },
  },
];

/** `?as=object`: the stored objects instead of the views (`ferroctl get -o yaml|json`). */
const asObjectParam = {
  name: 'as',
  in: 'query',
  description:
    'object: the objects exactly as applied (no status), which apply takes back unchanged; a listing is {apiVersion: v1, kind: List, items}',
  schema: { type: 'string', enum: ['object'] },
};

function resource(path: string, kind: string, objectSchema: string, view: string, paged = false) {
  return {
    [`/api/v1/${path}`]: {
      get: {
        summary: `List ${kind}s`,
        parameters: [...(paged ? pagingParams : []), asObjectParam],
        responses: {
          '200': {
            description: 'OK',
            ...json({
              type: 'object',
              properties: {
                items: { type: 'array', items: ref(view) },
                ...(paged
                  ? {
                      metadata: {
                        type: 'object',
                        description: 'Only with limit',
                        properties: {
                          continue: { type: 'string', description: 'Absent on the last page' },
                          remainingItemCount: { type: 'integer' },
                        },
                      },
                    }
                  : {}),
              },
            }),
          },
          ...errors,
        },
      },
      post: {
        summary: `Create a ${kind}`,
        requestBody: body(ref(objectSchema)),
        responses: {
          '201': { description: 'Created', ...json(ref(view)) },
          '409': { description: 'Already exists', ...json(ref('Error')) },
          ...errors,
        },
      },
    },
    [`/api/v1/${path}/{name}`]: {
      parameters: [nameParam],
      get: {
        summary: `Get a ${kind}`,
        parameters: [asObjectParam],
        responses: {
          '200': { description: 'OK', ...json(ref(view)) },
          '404': { description: 'Not found', ...json(ref('Error')) },
          ...errors,
        },
      },
      put: {
        summary: `Create or replace a ${kind} (apiVersion, kind and metadata.name may be omitted)`,
        requestBody: body(ref(objectSchema)),
        responses: { '200': { description: 'OK', ...json(ref(view)) }, ...errors },
      },
      delete: {
        summary: `Delete a ${kind}`,
        responses: {
          '200': { description: 'Deleted' },
          '404': { description: 'Not found', ...json(ref('Error')) },
          '409': { description: 'Pool still in use', ...json(ref('Error')) },
          ...errors,
        },
      },
    },
  };
}

const counts = {
  type: 'object',
  properties: { total: { type: 'string' }, used: { type: 'string' }, free: { type: 'string' } },
};
export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'ferrolb REST API',
    version: VERSION,
    description:
      'Bound to loopback by default. When a token is configured every /api/v1 call needs `Authorization: Bearer TOKEN`.',
  },
  servers: [{ url: 'http://127.0.0.1:11111' }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      LoadBalancer: loadBalancerObjectSchema,
      IPAddressPool: poolObjectSchema,
      Issue: {
        type: 'object',
        required: ['object', 'field', 'message'],
        properties: {
          object: { type: 'string' },
          field: { type: 'string' },
          value: {},
          message: { type: 'string' },
        },
      },
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              issues: { type: 'array', items: ref('Issue') },
            },
          },
        },
      },
      LoadBalancerView: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          namespace: { type: 'string' },
          addresses: { type: 'array', items: { type: 'string' } },
          secondaryAddresses: { type: 'array', items: { type: 'string' } },
          pool: { type: ['string', 'null'] },
          ports: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                port: { type: 'integer' },
                protocol: { type: 'string' },
                targetPort: { type: 'integer' },
              },
            },
          },
          mode: { type: 'string' },
          algorithm: { type: 'string' },
          healthCheck: { type: 'string' },
          endpoints: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                address: { type: 'string' },
                port: { type: 'integer' },
                servicePort: { type: 'integer' },
                protocol: { type: 'string' },
                weight: { type: 'integer' },
                state: { enum: ['active', 'inactive', 'unknown'] },
              },
            },
          },
          status: {
            type: 'object',
            properties: {
              phase: { enum: ['Allocated', 'Pending'] },
              code: { type: 'string' },
              reason: { type: 'string' },
            },
          },
        },
      },
      PoolView: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          apiVersion: { type: 'string' },
          addresses: { type: 'array', items: { type: 'string' } },
          autoAssign: { type: 'boolean' },
          avoidBuggyIPs: { type: 'boolean' },
          ipv4: counts,
          ipv6: counts,
        },
      },
    },
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/healthz': {
      get: { summary: 'Liveness (no auth)', security: [], responses: { '200': { description: 'OK' } } },
    },
    '/readyz': {
      get: {
        summary: 'Readiness (no auth): the role has its input and the data plane serves it',
        security: [],
        responses: { '200': { description: 'ready' }, '503': { description: 'not ready; body says why' } },
      },
    },
    ...resource('loadbalancers', 'LoadBalancer', 'LoadBalancer', 'LoadBalancerView', true),
    ...resource('pools', 'IPAddressPool', 'IPAddressPool', 'PoolView'),
    '/api/v1/events/{name}': {
      parameters: [nameParam],
      get: {
        summary:
          "A LoadBalancer's recent events, oldest first (allocated, pending, probe verdicts; in memory, at most 20)",
        responses: {
          '200': {
            description: 'OK',
            ...json({
              type: 'object',
              properties: {
                items: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      at: { type: 'integer', description: 'epoch ms of the last occurrence' },
                      type: { type: 'string', enum: ['Normal', 'Warning'] },
                      reason: { type: 'string' },
                      message: { type: 'string' },
                      count: { type: 'integer' },
                    },
                  },
                },
              },
            }),
          },
          ...errors,
        },
      },
    },
    '/api/v1/apply': {
      post: {
        summary:
          'Create or replace a set of objects atomically (multi-document YAML, a JSON array, or {objects: [...]})',
        parameters: [
          {
            name: 'strict',
            in: 'query',
            description:
              'true: a warning about one of the objects refuses the whole change (422, nothing applied)',
            schema: { type: 'boolean' },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/yaml': { schema: { type: 'string' } },
            'application/json': { schema: { type: 'array', items: {} } },
          },
        },
        responses: {
          '200': {
            description: 'Applied',
            ...json({
              type: 'object',
              properties: {
                applied: { type: 'array', items: { type: 'string' } },
                generation: {
                  type: 'integer',
                  description: 'Snapshot generation of the change (GET /api/v1/dataplane: generationApplied)',
                },
                results: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['object', 'outcome'],
                    properties: {
                      object: { type: 'string', description: 'Kind/name' },
                      outcome: { type: 'string', enum: ['created', 'configured', 'unchanged'] },
                      status: {
                        type: 'object',
                        description: 'LoadBalancers: after the change',
                        properties: {
                          phase: { type: 'string', enum: ['Allocated', 'Pending'] },
                          addresses: { type: 'array', items: { type: 'string' } },
                          code: { type: 'string' },
                          reason: { type: 'string' },
                        },
                      },
                      warnings: { type: 'array', items: { type: 'string' } },
                    },
                  },
                },
              },
            }),
          },
          ...errors,
        },
      },
    },
  },
};

const text = JSON.stringify(openapi, null, 2) + '\n';
if (process.argv.includes('--check')) {
  if (readFileSync(OUT, 'utf8') !== text) {
    console.error('docs/openapi.json is stale: run `node dist/scripts/gen-openapi.js`');
    process.exitCode = 1;
  }
} else {
  writeFileSync(OUT, text);
}
