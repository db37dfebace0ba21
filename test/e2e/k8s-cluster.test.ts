// Kubernetes: three real `ferrolb agent`s in three network namespaces form the Layer 2 Cluster from
// the Nodes of the (emulated) API server — the LB nodes by label, each at its InternalIP, the key a
// file as a mounted Secret would be — and share the Services the controller allocated. The API is
// for discovery only: an agent SIGKILLed is replaced by heartbeats alone, and a Node that loses
// its label leaves the Cluster.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { e2eSkipReason, HOST, nsExec, Topology, waitFor } from '../support/netns.js';
import { api, startAgent, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import {
  createPool,
  kubeconfigYaml,
  startEmulator,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import { runController, type Controller } from '../../src/k8s/controller.js';
import type { ClusterStatus } from '../../src/cluster/status.js';
import { SUPPORTED_KINDS } from '../../src/model/validate.js';

const skip = e2eSkipReason();
const NAMES = ['lb1', 'lb2', 'lb3'] as const;
type Name = (typeof NAMES)[number];
const LB_LABEL = 'node-role.kubernetes.io/lb';
const SERVICES = 6;
const API_PORT = 11181;

describe('k8s: agents form the Cluster from the Nodes', { skip, timeout: 180_000 }, () => {
  const topo = new Topology();
  const dir = tempDir('ferrolb-k8s-cluster-');
  const net = `10.194.${parseInt(topo.id.slice(0, 2), 16)}`;
  const addr = (n: Name) => `${net}.${NAMES.indexOf(n) + 1}`;
  const url = (n: Name) => `http://${addr(n)}:${API_PORT}`;
  const ns = new Map<Name, string>();
  const agents = new Map<Name, Daemon>();
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let controller: Controller;
  let core: CoreV1Api;

  const status = async (n: Name): Promise<ClusterStatus> =>
    (await api<ClusterStatus>(url(n), 'GET', '/api/v1/cluster')).body;

  const agreed = async (live: readonly Name[]): Promise<Map<string, string> | undefined> => {
    let ref: Map<string, string> | undefined;
    for (const n of live) {
      const st = await status(n);
      if (!st.synced || !st.quorum?.have || st.owners.length !== SERVICES) return undefined;
      const m = new Map(st.owners.map((o) => [o.address, o.owner as string]));
      if ([...m.values()].some((o) => !live.includes(o as Name))) return undefined;
      if (ref && [...m].some(([a, o]) => ref?.get(a) !== o)) return undefined;
      ref ??= m;
    }
    return ref;
  };

  const node = async (name: string, address: string, labels: Record<string, string>) => {
    const n = await core.createNode({ body: { metadata: { name, labels } } });
    n.status = {
      addresses: [{ type: 'InternalIP', address }],
      conditions: [{ type: 'Ready', status: 'True' } as never],
    };
    await core.replaceNodeStatus({ name, body: n });
  };

  before(async () => {
    const sw = await topo.addNs('sw');
    await nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    const attach = async (end: string | typeof HOST, address: string) => {
      const { bDev } = await topo.link(end, [`${address}/24`], sw, []);
      await nsExec(sw, 'ip', ['link', 'set', bDev, 'master', 'br0']);
    };
    for (const n of NAMES) {
      ns.set(n, await topo.addNs(n));
      await attach(ns.get(n) as string, addr(n));
    }
    await attach(HOST, `${net}.100`);
    ({ emu, kc } = await startEmulator({ host: `${net}.100` }));
    core = kc.makeApiClient(CoreV1Api);
    for (const n of NAMES) await node(n, addr(n), { [LB_LABEL]: '', rack: n });
    await node('worker1', `${net}.50`, {});
    await createPool(kc, 'l2', ['198.51.100.0/28']);
    if (SUPPORTED_KINDS.includes('L2Advertisement'))
      await kc
        .makeApiClient((await import('@kubernetes/client-node')).CustomObjectsApi)
        .createNamespacedCustomObject({
          group: 'ferrolb.io',
          version: 'v1',
          namespace: 'ferrolb-system',
          plural: 'l2advertisements',
          body: {
            apiVersion: 'ferrolb.io/v1',
            kind: 'L2Advertisement',
            metadata: { name: 'l2' },
            spec: { ipAddressPools: ['l2'] },
          },
        });
    controller = runController({ kubeConfig: kc, leaderElection: false, debounceMs: 5 });
    writeFileSync(join(dir.path, 'kubeconfig'), kubeconfigYaml(emu.url));
    writeFileSync(join(dir.path, 'cluster.key'), randomBytes(32).toString('base64'));
    const start = async (n: Name) =>
      agents.set(
        n,
        await startAgent(
          [
            ...[
              '--kubeconfig',
              join(dir.path, 'kubeconfig'),
              '--node-name',
              n,
              '--state-dir',
              join(dir.path, n),
            ],
            ...['--cluster-key-file', join(dir.path, 'cluster.key'), '--cluster-nodes', LB_LABEL],
            ...['--api', `${addr(n)}:${API_PORT}`, '--insecure-api', '--bgp-port', 'off'],
          ],
          { prefix: ['ip', 'netns', 'exec', ns.get(n) as string], timeoutMs: 30_000 },
        ),
      );
    await Promise.all(NAMES.map(start));
    await waitFor(
      'cluster formed',
      async () =>
        (await Promise.all(NAMES.map(status))).every((s) => s.quorum?.alive === 3 && s.synced)
          ? true
          : undefined,
      20_000,
      100,
    );
    for (let i = 0; i < SERVICES; i++)
      await core.createNamespacedService({
        namespace: 'web',
        body: {
          metadata: { name: `web${i}` },
          spec: {
            type: 'LoadBalancer',
            loadBalancerClass: 'ferrolb.io/ferrolb',
            selector: { app: 'web' },
            ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
          },
        },
      });
  });

  after(async () => {
    await Promise.all([...agents.values()].map((d) => stopDaemon(d, 'SIGKILL')));
    await controller?.stop();
    await emu?.stop();
    await topo.cleanup();
    dir.remove();
  });

  let settled = new Map<string, string>();

  /** Per Service: the nodes its ServiceL2Status objects name, when each matches the Service's owner. */
  const l2Statuses = async (): Promise<Map<string, string[]>> => {
    const custom = kc.makeApiClient((await import('@kubernetes/client-node')).CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({
      group: 'ferrolb.io',
      version: 'v1',
      namespace: 'web',
      plural: 'servicel2statuses',
    })) as {
      items: {
        metadata: { ownerReferences?: { kind: string; name: string; uid: string }[] };
        status: { node: string; serviceName: string; addresses: string[] };
      }[];
    };
    const out = new Map<string, string[]>();
    for (const o of list.items) {
      const svc = await core.readNamespacedService({ name: o.status.serviceName, namespace: 'web' });
      const ref = o.metadata.ownerReferences?.[0];
      assert.deepEqual(
        ref && [ref.kind, ref.name, ref.uid],
        ['Service', o.status.serviceName, svc.metadata?.uid],
        'owned by its Service',
      );
      out.set(o.status.serviceName, [...(out.get(o.status.serviceName) ?? []), o.status.node].sort());
    }
    return out;
  };
  /** Service name → the node that owns its address (from `settled`). */
  const ownersByService = async (): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>();
    for (let i = 0; i < SERVICES; i++) {
      const s = await core.readNamespacedService({ name: `web${i}`, namespace: 'web' });
      const ip = s.status?.loadBalancer?.ingress?.[0]?.ip ?? '';
      out.set(`web${i}`, [settled.get(ip) ?? '?']);
    }
    return out;
  };
  const sameMaps = async () => {
    const [a, b] = [await l2Statuses(), await ownersByService()];
    return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort()) ? true : undefined;
  };

  it('the LB Nodes (not the worker) are the members; the allocated addresses are spread over them', async () => {
    settled = await waitFor('agreement', () => agreed(NAMES), 30_000, 100);
    const st = await status('lb1');
    assert.deepEqual(
      st.members.map((m) => `${m.name}@${m.address}:${m.state}`),
      NAMES.map((n) => `${n}@${addr(n)}:${n === 'lb1' ? 'self' : 'alive'}`),
    );
    // Rendezvous spread (src/cluster/election.ts): every LB node gets some of the six, the worker none.
    const loads = NAMES.map((n) => [...settled.values()].filter((o) => o === n).length);
    assert.equal(
      loads.reduce((a, b) => a + b, 0),
      settled.size,
    );
    assert.ok(Math.min(...loads) >= 1, loads.join(','));
  });

  it('ServiceL2Status per Service names its announcing node (owned by the Service), with a nodeAssigned Event', async () => {
    await waitFor('ServiceL2Status = owners', sameMaps, 15_000, 200).catch(async (e: Error) => {
      throw new Error(
        `${e.message}: ${JSON.stringify([...(await l2Statuses())])} vs ${JSON.stringify([...(await ownersByService())])}`,
      );
    });
    const events = (await core.listNamespacedEvent({ namespace: 'web' })).items.filter(
      (e) => e.reason === 'nodeAssigned',
    );
    for (const [svc, [owner]] of await ownersByService())
      assert.ok(
        events.some((e) => e.involvedObject.name === svc && e.message?.includes(`from node ${owner}`)),
        `${svc}: nodeAssigned from ${owner}`,
      );
  });

  it('an agent SIGKILLed: the others take its addresses over by heartbeats alone', async () => {
    const victim: Name = 'lb3';
    await stopDaemon(agents.get(victim) as Daemon, 'SIGKILL');
    agents.delete(victim);
    const after = await waitFor('takeover', () => agreed(['lb1', 'lb2']), 10_000, 20);
    for (const [a, o] of settled) if (o !== victim) assert.equal(after.get(a), o, `${a} moved`);
    settled = after;
    // The dead node cannot delete its objects: the new owners replace them.
    await waitFor('ServiceL2Status follows the takeover', sameMaps, 15_000, 200);
  });

  it('a Node that loses the LB label leaves the Cluster (quorum counts the members that remain)', async () => {
    const n = await core.readNode({ name: 'lb3' });
    delete n.metadata?.labels?.[LB_LABEL];
    await core.replaceNode({ name: 'lb3', body: n });
    const st = await waitFor(
      'two members',
      async () => {
        const s = await status('lb1');
        return s.members.length === 2 ? s : undefined;
      },
      10_000,
      100,
    );
    assert.deepEqual(st.quorum, { have: true, alive: 2, needed: 1, total: 2 });
    assert.deepEqual(await agreed(['lb1', 'lb2']), settled);
  });
});
