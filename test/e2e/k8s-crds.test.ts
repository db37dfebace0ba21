// CRDs as a cluster has them: installed after the controller started, or removed while it runs. The
// emulator serves a custom resource only while its CRD exists, like a real API server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  CONTROLLER_SA,
  createPool,
  kubeConfigAs,
  startEmulator,
  waitFor,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import { ferrolbCrds } from '../support/kube-emulator/crd.js';
import { runController, type Controller } from '../../src/k8s/controller.js';

describe('CRDs installed after the controller started', () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let controller: Controller | undefined;
  before(async () => ({ emu, kc } = await startEmulator({ crds: [] })));
  after(async () => {
    await controller?.stop();
    await emu.stop();
  });

  it('are picked up within seconds (the default retry, not a test knob)', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name: 'late' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          ports: [{ port: 80, protocol: 'TCP' }],
        },
      },
    });
    // Default watch options: what a deployed controller does.
    controller = runController({ kubeConfig: kubeConfigAs(emu, CONTROLLER_SA), leaderElection: false });
    await controller.ready; // every cache listed once (the custom resources as absent)
    for (const crd of ferrolbCrds()) emu.installCrd(crd);
    await createPool(kc, 'late-pool', ['10.20.0.0/30']);
    // A bound on how long "promptly" may be, well under the ~28 s the old 30 s retry took.
    const ip = await waitFor(
      async () =>
        (await core.readNamespacedService({ name: 'late', namespace: 'default' })).status?.loadBalancer
          ?.ingress?.[0]?.ip,
      'the pool of a CRD installed after start to be used',
      10_000,
      50,
    );
    assert.equal(ip, '10.20.0.0');
  });
});
