// The two Kubernetes roles as users run them: `ferrolb controller` and `ferrolb agent` processes
// against the in-repo API server emulator. The controller allocates and writes status; the agent
// serves the same model (here with the kernel off, in the host namespace) and refuses writes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import {
  AGENT_SA,
  CONTROLLER_SA,
  createPool,
  kubeconfigYaml,
  startEmulator,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import { api, FERROLB, tempDir } from '../support/daemon.js';
import { waitFor } from '../support/netns.js';
import type { LoadBalancerView } from '../../src/state/views.js';

function startRole(args: string[]): { proc: ChildProcess; logs: string[]; url: Promise<string> } {
  const proc = spawn(process.execPath, [FERROLB, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FERROLB_LOG_LEVEL: 'info' },
  });
  const logs: string[] = [];
  const url = new Promise<string>((resolve) => {
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        logs.push(l);
        const m = /"api":"([^"]+)".*"msg":"ferrolb running"/.exec(l);
        if (m?.[1]) resolve(m[1]);
      }
    });
  });
  proc.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return { proc, logs, url };
}

async function stop(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null) return p.exitCode;
  const done = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  p.kill('SIGTERM');
  return done;
}

describe('ferrolb controller + ferrolb agent against the API server emulator', { timeout: 60_000 }, () => {
  let emu: KubeEmulator;
  const dir = tempDir();
  let controller: ReturnType<typeof startRole>;
  let agent: ReturnType<typeof startRole>;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let deadPort = 0;

  before(async () => {
    const started = await startEmulator();
    emu = started.emu;
    core = started.kc.makeApiClient(CoreV1Api);
    custom = started.kc.makeApiClient(CustomObjectsApi);
    // A BGP peer on a loopback port nobody listens on: the session stays down, and says so.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await custom.createNamespacedCustomObject({
      group: 'ferrolb.io',
      version: 'v1',
      namespace: 'ferrolb-system',
      plural: 'bgppeers',
      body: {
        apiVersion: 'ferrolb.io/v1',
        kind: 'BGPPeer',
        metadata: { name: 'tor' },
        spec: {
          myASN: 64513,
          peerASN: 64512,
          peerAddress: '127.0.0.1',
          peerPort: deadPort,
          routerID: '10.0.0.1',
        },
      },
    });
    // Each role with its own ServiceAccount's token, as deployed: the emulator enforces the shipped RBAC.
    const kubeconfig = join(dir.path, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      kubeconfigYaml(emu.url, emu.tokenFor(CONTROLLER_SA.namespace, CONTROLLER_SA.name)),
    );
    const agentKubeconfig = join(dir.path, 'kubeconfig-agent');
    writeFileSync(agentKubeconfig, kubeconfigYaml(emu.url, emu.tokenFor(AGENT_SA.namespace, AGENT_SA.name)));
    await createPool(started.kc, 'public', ['10.77.0.0/30']);
    await core.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name: 'web' },
        spec: {
          type: 'LoadBalancer',
          loadBalancerClass: 'ferrolb.io/ferrolb',
          ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 as never }],
          selector: { app: 'web' },
        },
      },
    });
    await started.kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
      namespace: 'default',
      body: {
        addressType: 'IPv4',
        metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
        endpoints: [{ addresses: ['10.77.1.2'], conditions: { ready: true } }],
        ports: [{ port: 8080, protocol: 'TCP' }],
      },
    });
    controller = startRole(['controller', '--kubeconfig', kubeconfig, '--metrics-addr', '127.0.0.1:0']);
    agent = startRole([
      'agent',
      '--kubeconfig',
      agentKubeconfig,
      '--state-dir',
      dir.path,
      '--api',
      '127.0.0.1:0',
      '--dataplane',
      'off',
      '--probes',
      'off',
      '--bgp-port',
      'off',
      '--node-name',
      'lb-node-1',
    ]);
  });

  after(async () => {
    for (const p of [controller?.proc, agent?.proc]) if (p) await stop(p);
    await emu?.stop();
    dir.remove();
  });

  it('the controller writes an IP to the Service status', async () => {
    const ip = await waitFor(
      'status written',
      async () => {
        const s = await core.readNamespacedService({ name: 'web', namespace: 'default' });
        return s.status?.loadBalancer?.ingress?.[0]?.ip;
      },
      20_000,
      100,
    );
    assert.equal(ip, '10.77.0.0');
  });

  it('the agent serves the same service with its endpoints, read-only', async () => {
    const url = await agent.url;
    const lb = await waitFor(
      'agent model',
      async () => {
        const r = await api<LoadBalancerView>(url, 'GET', '/api/v1/loadbalancers/default.web');
        return r.status === 200 && r.body.addresses.length > 0 ? r.body : undefined;
      },
      20_000,
      100,
    );
    assert.deepEqual(lb.addresses, ['10.77.0.0']);
    assert.deepEqual(
      lb.endpoints.map((e) => [e.address, e.port]),
      [['10.77.1.2', 8080]],
    );
    const write = await api<{ error: { message: string } }>(
      url,
      'DELETE',
      '/api/v1/loadbalancers/default.web',
    );
    assert.equal(write.status, 405);
    assert.match(write.body.error.message, /Kubernetes/);
    assert.deepEqual(await api(url, 'GET', '/readyz'), { status: 200, body: { status: 'ready' } });
  });

  it('the agent writes a BGPSessionState for its node and peer (a down session, with its error)', async () => {
    const st = await waitFor(
      'BGPSessionState lb-node-1.tor',
      async () => {
        const l = (await custom.listNamespacedCustomObject({
          group: 'ferrolb.io',
          version: 'v1',
          namespace: 'ferrolb-system',
          plural: 'bgpsessionstates',
          labelSelector: 'ferrolb.io/node=lb-node-1',
        })) as {
          items: {
            metadata: { name: string; labels: Record<string, string> };
            spec: Record<string, unknown>;
            status?: Record<string, unknown>;
          }[];
        };
        const o = l.items[0];
        return o?.status?.lastError ? o : undefined;
      },
      20_000,
      100,
    );
    assert.equal(st.metadata.name, 'lb-node-1.tor');
    assert.deepEqual(st.metadata.labels, { 'ferrolb.io/node': 'lb-node-1', 'ferrolb.io/peer': 'tor' });
    assert.deepEqual(st.spec, { node: 'lb-node-1', peer: 'tor', peerAddress: '127.0.0.1' });
    assert.notEqual(st.status?.sessionState, 'Established');
    assert.equal(st.status?.establishedTime, undefined);
    assert.equal(st.status?.peerASN, 64512);
    assert.equal(st.status?.prefixesSent, 0);
    assert.match(String(st.status?.lastError), /ECONNREFUSED|refused|connect/i);
  });

  it('an agent that cannot reach the API server is live but not ready, and says why', async () => {
    // A loopback port nobody listens on (taken and released at once).
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const kubeconfig = join(dir.path, 'kubeconfig-unreachable');
    writeFileSync(kubeconfig, kubeconfigYaml(`http://127.0.0.1:${port}`));
    const lonelyDir = tempDir();
    const lonely = startRole([
      ...['agent', '--kubeconfig', kubeconfig, '--state-dir', lonelyDir.path],
      ...['--api', '127.0.0.1:0', '--dataplane', 'off', '--probes', 'off', '--bgp-port', 'off'],
    ]);
    try {
      const url = await lonely.url;
      assert.equal((await api(url, 'GET', '/healthz')).status, 200);
      const ready = await api<{ status: string; reason: string }>(url, 'GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.match(ready.body.reason, /first full view of the cluster/);
    } finally {
      await stop(lonely.proc);
      lonelyDir.remove();
    }
  });

  it('without --leader-elect, the controller and the agent honour SIGTERM while the API server never answers', async () => {
    // A loopback "API server" that accepts connections and never answers: every list hangs.
    const held = new Set<import('node:net').Socket>();
    const silent = createServer((s) => held.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const kubeconfig = join(dir.path, 'kubeconfig-silent');
    writeFileSync(kubeconfig, kubeconfigYaml(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`));
    const roleDir = tempDir();
    const roles = [
      startRole(['controller', '--kubeconfig', kubeconfig, '--metrics-addr', 'off']),
      startRole([
        ...['agent', '--kubeconfig', kubeconfig, '--state-dir', roleDir.path, '--api', '127.0.0.1:0'],
        ...['--dataplane', 'off', '--probes', 'off', '--bgp-port', 'off'],
      ]),
    ];
    try {
      for (const r of roles)
        await waitFor(
          'role started',
          () => (r.logs.some((l) => /controller started|ferrolb running/.test(l)) ? true : undefined),
          20_000,
        );
      await waitFor('lists in flight', () => (held.size >= 2 ? true : undefined), 10_000);
      for (const r of roles) {
        const exited = new Promise<number | null>((res) => r.proc.once('exit', (code) => res(code)));
        r.proc.kill('SIGTERM');
        // A bound, not a speed test: the supervisor's own stop timeout (15 s) must not be what ends it.
        const code = await Promise.race([
          exited,
          new Promise<string>((res) => setTimeout(() => res('still running'), 5_000)),
        ]);
        assert.equal(code, 0, r.logs.join('\n'));
        assert.ok(!r.logs.some((l) => /did not finish/.test(l)), r.logs.join('\n'));
      }
    } finally {
      for (const r of roles) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
      for (const s of held) s.destroy();
      silent.close();
      roleDir.remove();
    }
  });

  it('the controller serves Prometheus metrics', async () => {
    const url = await waitFor(
      'metrics address logged',
      () => {
        for (const l of controller.logs) {
          const m = /"metrics":"([^"]+)"/.exec(l);
          if (m?.[1]) return m[1];
        }
        return undefined;
      },
      10_000,
    );
    const text = await (await fetch(url)).text();
    assert.match(text, /ferrolb_controller_reconciles_total [1-9]/);
    assert.match(text, /ferrolb_controller_leader 1/);
    assert.equal((await fetch(new URL('/healthz', url))).status, 200);
  });

  it('both roles stop cleanly on SIGTERM', async () => {
    assert.equal(await stop(agent.proc), 0, agent.logs.join('\n'));
    assert.equal(await stop(controller.proc), 0, controller.logs.join('\n'));
  });
});
