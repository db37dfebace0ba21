import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildDesiredState, updateDesiredState } from '../../../src/model/validate.js';
import {
  clusterKeyIssue,
  nodeNameIssue,
  CLUSTER_DEFAULTS,
  type ClusterSpec,
} from '../../../src/model/cluster.js';
import { formatIssue } from '../../../src/model/issues.js';
import type { RawObject, StoredObject } from '../../../src/model/types.js';
import { yamlExamples } from '../../support/docs.js';

const cluster = (spec: Record<string, unknown>, name = 'default'): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'Cluster',
  metadata: { name },
  spec,
});
const nodes = [
  { name: 'lb1', address: '10.0.0.1', labels: { rack: 'a' } },
  { name: 'lb2', address: '10.0.0.2', labels: { rack: 'b' } },
  { name: 'lb3', address: '10.0.0.3' },
];
const good = { authKeyFile: '/etc/ferrolb/cluster.key', nodes };
const build = (...objects: RawObject[]) =>
  buildDesiredState(objects.map((object) => ({ origin: 'file' as const, object })));
const errors = (...objects: RawObject[]) => build(...objects).issues.map(formatIssue);

describe('Cluster kind', () => {
  it('accepts the documented shape with defaults', () => {
    const r = build(cluster(good));
    assert.deepEqual(r.issues, []);
    const c = r.state?.cluster;
    assert.equal(c?.heartbeatIntervalMs, CLUSTER_DEFAULTS.heartbeatIntervalMs);
    assert.equal(c?.deadAfter, 3);
    assert.equal(c?.port, CLUSTER_DEFAULTS.port);
    assert.deepEqual(
      c?.nodes.map((n) => n.name),
      ['lb1', 'lb2', 'lb3'],
    );
    assert.deepEqual(c?.nodes[0]?.labels, { rack: 'a' });
  });

  it('no Cluster: no cluster in the state', () => {
    assert.equal(build().state?.cluster, undefined);
  });

  it('names field and value of every problem', () => {
    assert.deepEqual(
      errors(
        cluster({
          authKeyFile: 'cluster.key',
          heartbeatInterval: '5ms',
          deadAfter: 1,
          nodes: [
            { name: 'lb1', address: '10.0.0.1' },
            { name: 'lb1', address: '10.0.0.2' },
            { name: 'lb3', address: '10.0.0.1' },
            { name: 'LB4', address: 'ten' },
          ],
          colour: 'blue',
        }),
      ),
      [
        'Cluster/default: spec.colour: "blue": unknown field',
        'Cluster/default: spec.authKeyFile: "cluster.key": must be an absolute path to the shared key file',
        'Cluster/default: spec.heartbeatInterval: "5ms": must be between 10ms and 10s',
        'Cluster/default: spec.deadAfter: 1: must be an integer 2..20',
        'Cluster/default: spec.nodes[1].name: "lb1": duplicate node name (also spec.nodes[0])',
        'Cluster/default: spec.nodes[2].address: "10.0.0.1": duplicate node address (also spec.nodes[0])',
        'Cluster/default: spec.nodes[3].name: "LB4": must be a lower-case DNS name (a-z, 0-9, "-", ".")',
        'Cluster/default: spec.nodes[3].address: "ten": must be an IPv4 or IPv6 address',
      ],
    );
  });

  it('refuses a missing key file field, no nodes, mixed families, two Clusters', () => {
    assert.deepEqual(errors(cluster({ nodes })), [
      'Cluster/default: spec.authKeyFile: (missing): required field is missing',
    ]);
    assert.deepEqual(errors(cluster({ authKeyFile: '/k', nodes: [] })), [
      'Cluster/default: spec.nodes: []: must be a non-empty list of {name, address}',
    ]);
    assert.match(
      errors(cluster({ authKeyFile: '/k', nodes: [nodes[0], { name: 'v6', address: 'fd00::1' }] }))[0] ?? '',
      /all be IPv4 or all be IPv6/,
    );
    assert.match(errors(cluster(good), cluster(good, 'other'))[0] ?? '', /only one Cluster may be defined/);
  });

  it('an incremental change re-validates the Cluster', () => {
    const first = build(cluster(good));
    assert.ok(first.state);
    const objects = new Map<string, StoredObject>(first.state.objects);
    objects.set('Cluster/default', {
      origin: 'file',
      object: cluster({ ...good, heartbeatInterval: '50ms' }),
    });
    const r = updateDesiredState(first.state, [], objects, new Set(['Cluster/default']));
    assert.equal(r.state?.cluster?.heartbeatIntervalMs, 50);
    objects.set('Cluster/default', {
      origin: 'file',
      object: cluster({ ...good, heartbeatInterval: 'soon' }),
    });
    const bad = updateDesiredState(first.state, [], objects, new Set(['Cluster/default']));
    assert.equal(bad.state, undefined);
    assert.match(formatIssue(bad.issues[0] as never), /heartbeatInterval: "soon"/);
  });

  it('this node must be one of the nodes; the key must be at least 32 bytes', () => {
    const c = build(cluster(good)).state?.cluster as ClusterSpec;
    assert.equal(nodeNameIssue(c, 'lb2'), undefined);
    assert.equal(
      formatIssue(nodeNameIssue(c, 'lb9') as never),
      'Cluster/default: spec.nodes: "lb9": this node (--node-name "lb9") is not in the Cluster; its nodes are lb1, lb2, lb3',
    );
    assert.equal(clusterKeyIssue(c, new Uint8Array(32)), undefined);
    assert.match(
      formatIssue(clusterKeyIssue(c, Buffer.from(' short-key\n')) as never),
      /spec.authKeyFile: "\/etc\/ferrolb\/cluster.key": the key is 9 bytes; at least 32 are needed/,
    );
    assert.match(
      formatIssue(clusterKeyIssue(c, { error: 'no such file' }) as never),
      /cannot read the key file: no such file/,
    );
  });

  it('the Cluster examples of docs/l2.md validate', () => {
    const clusters = yamlExamples('l2.md')
      .flat()
      .filter((o) => o.kind === 'Cluster');
    assert.ok(clusters.length >= 1);
    for (const c of clusters) assert.deepEqual(errors(c as RawObject), []);
  });
});
