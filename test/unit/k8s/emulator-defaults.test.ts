// The emulator's API-server defaults: node ports for NodePort/LoadBalancer Services, when asked for.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, type V1Service } from '@kubernetes/client-node';
import { startEmulator, type KubeEmulator } from '../../support/kube-emulator/index.js';
import { withNodePorts } from '../../support/kube-emulator/defaults.js';

const svc = (name: string, spec: V1Service['spec']): V1Service => ({ metadata: { name }, spec });
const sctp = (nodePort?: number) => ({ port: 38412, protocol: 'SCTP', ...(nodePort ? { nodePort } : {}) });

describe('kube emulator: node port allocation', () => {
  let emu: KubeEmulator;
  let core: CoreV1Api;
  before(async () => {
    const s = await startEmulator({ allocateNodePorts: true });
    emu = s.emu;
    core = s.kc.makeApiClient(CoreV1Api);
  });
  after(() => emu.stop());

  const create = async (body: V1Service) =>
    (await core.createNamespacedService({ namespace: 'default', body })).spec?.ports?.map((p) => p.nodePort);

  it('gives every port of a LoadBalancer or NodePort Service the lowest free node port', async () => {
    assert.deepEqual(await create(svc('a', { type: 'LoadBalancer', ports: [sctp(30001)] })), [30001]);
    assert.deepEqual(
      await create(svc('b', { type: 'LoadBalancer', ports: [sctp(), sctp()] })),
      [30000, 30002],
    );
    assert.deepEqual(await create(svc('c', { type: 'NodePort', ports: [sctp()] })), [30003]);
  });

  it('leaves ClusterIP Services and allocateLoadBalancerNodePorts: false alone', async () => {
    assert.deepEqual(await create(svc('d', { type: 'ClusterIP', ports: [sctp()] })), [undefined]);
    assert.deepEqual(
      await create(svc('e', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [sctp()] })),
      [undefined],
    );
  });

  it('is pure: the input object is not changed', () => {
    const o = { spec: { type: 'LoadBalancer', ports: [{ port: 1 }] } };
    const out = withNodePorts(o, []);
    assert.deepEqual(o.spec.ports, [{ port: 1 }]);
    assert.deepEqual((out.spec as { ports: unknown[] }).ports, [{ port: 1, nodePort: 30000 }]);
  });
});
