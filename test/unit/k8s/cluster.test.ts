import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clusterFromNodes, parseNodeSelector } from '../../../src/k8s/cluster.js';
import { agentModel } from '../../../src/k8s/agent.js';
import { DEFAULT_MAPPING } from '../../../src/k8s/mapping.js';
import type { KNode } from '../../../src/k8s/types.js';
import { formatIssue } from '../../../src/model/issues.js';

const node = (name: string, labels: Record<string, string>, ...addresses: string[]): KNode => ({
  metadata: { name, labels },
  status: {
    addresses: [
      { type: 'Hostname', address: name },
      ...addresses.map((address) => ({ type: 'InternalIP', address })),
    ],
  },
});
const nodes = [
  node('worker1', {}, '10.0.1.1'),
  node('lb-b', { 'node-role.kubernetes.io/lb': '', zone: 'b' }, '10.0.0.2', 'fd00::2'),
  node('lb-a', { 'node-role.kubernetes.io/lb': '', zone: 'a' }, '10.0.0.1', 'fd00::1'),
  node('lb-c', { 'node-role.kubernetes.io/lb': '' }, 'fd00::3'),
];
const opts = {
  keyFile: '/etc/ferrolb/cluster/key',
  selector: parseNodeSelector('node-role.kubernetes.io/lb'),
  family: 4 as const,
};

describe('Kubernetes: the Cluster from the Nodes', () => {
  it('members are the matching Nodes with an InternalIP of the family, sorted, with their labels', () => {
    const r = clusterFromNodes(nodes, opts);
    const spec = r.object?.spec as {
      authKeyFile: string;
      nodes: { name: string; address: string; labels: Record<string, string> }[];
    };
    assert.equal(spec.authKeyFile, '/etc/ferrolb/cluster/key');
    assert.deepEqual(
      spec.nodes.map((n) => `${n.name}=${n.address}`),
      ['lb-a=10.0.0.1', 'lb-b=10.0.0.2'],
    );
    assert.equal(spec.nodes[0]?.labels.zone, 'a');
    assert.deepEqual(r.issues.map(formatIssue), [
      'Node/lb-c: status.addresses: [{"type":"Hostname","address":"lb-c"},{"type":"InternalIP","address":"fd00::3"}]: no IPv4 InternalIP: not a cluster member',
    ]);
    const v6 = clusterFromNodes(nodes, { ...opts, family: 6 });
    assert.deepEqual(
      (v6.object?.spec as { nodes: { address: string }[] }).nodes.map((n) => n.address),
      ['fd00::1', 'fd00::2', 'fd00::3'],
    );
  });

  it('selectors: equality, existence, absence; bad syntax is refused', () => {
    assert.deepEqual(parseNodeSelector('a=1,b,!c'), {
      matchLabels: { a: '1' },
      matchExpressions: [
        { key: 'b', operator: 'Exists', values: [] },
        { key: 'c', operator: 'DoesNotExist', values: [] },
      ],
    });
    assert.deepEqual(parseNodeSelector(''), { matchLabels: {}, matchExpressions: [] });
    assert.throws(() => parseNodeSelector('a in (x)'), /is not a label selector/);
    const none = clusterFromNodes(nodes, { ...opts, selector: parseNodeSelector('zone=z') });
    assert.equal(none.object, undefined);
    assert.match(formatIssue(none.issues[0] as never), /no Node matches --cluster-nodes/);
  });

  it('the agent model holds a valid Cluster', () => {
    const m = agentModel(
      { services: [], slices: [], nodes, namespaces: [], customObjects: [] },
      { ...DEFAULT_MAPPING, metallbCompat: false },
      opts,
    );
    assert.deepEqual(
      m.state?.cluster?.nodes.map((n) => n.name),
      ['lb-a', 'lb-b'],
    );
    assert.equal(m.state?.cluster?.heartbeatIntervalMs, 100);
  });
});
