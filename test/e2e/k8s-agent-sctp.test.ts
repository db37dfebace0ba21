// kube-loxilb's SCTP N2 Service, unchanged from docs/migration-kube-loxilb.md, becomes a working
// multihomed SCTP load balancer served by the real `ferrolb agent` process. The API server emulator
// and the controller (in-process, --loxilb-compat) run in the host namespace; the agent runs inside
// the LB namespace (data plane and probes on, BGP off) and reaches the emulator over a management veth
// to the host. A two-link usrsctp client associates through the VIPs (the pool's primary plus the
// doc's two secondaryIPs), echo works across a cut of its primary link, the agent's API shows the
// association, the endpoint never sees a client address, the sctp liveness probe on probeport marks
// the endpoint active, and SIGTERM leaves the LB namespace as it found it.
//
// Endpoints: the default path the unchanged manifest takes. Class loxilb.io/loxilb sends to every
// Ready node's InternalIP and the Service's NodePort (as kube-loxilb does), so the endpoint namespace
// is the node: a Node object whose InternalIP is its address, and the Service's nodePort as the API
// server allocates it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { parse } from 'yaml';
import { CoreV1Api, DiscoveryV1Api, type V1Service } from '@kubernetes/client-node';
import { HOST, nsExec, sh, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, REPO, startAgent, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import {
  createPool,
  AGENT_SA,
  CONTROLLER_SA,
  kubeConfigAs,
  kubeconfigYaml,
  startEmulator,
  type KubeEmulator,
} from '../support/kube-emulator/index.js';
import {
  assertNeverSeen,
  buildSctpBed,
  capturedPackets,
  collect,
  sctpSkipReason,
  startCapture,
  stopCaptures,
  USRSCTP,
  type SctpBed,
  type SctpPlan,
} from '../support/sctp.js';
import { runController, type Controller } from '../../src/k8s/controller.js';
import { formatIp } from '../../src/net/ip.js';
import { decodeSctp } from '../../src/sctp/codec/index.js';
import type { AssociationView } from '../../src/sctp/index.js';
import type { LoadBalancerView } from '../../src/state/views.js';

const skip = sctpSkipReason(['tcpdump', 'socat', 'nft']);

/** The kube-loxilb SCTP example, read from the doc itself so the doc's example is what is proven. */
function docService(): V1Service {
  const md = readFileSync(join(REPO, 'docs/migration-kube-loxilb.md'), 'utf8');
  const svc = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => parse(m[1] ?? '') as V1Service | null)
    .find((o) => o?.kind === 'Service' && o.metadata?.name === 'amf-n2');
  if (!svc) throw new Error('docs/migration-kube-loxilb.md has no yaml block with Service amf-n2');
  return svc;
}
const SVC = docService();
const NS = 'default'; // the doc's Service names no namespace
const LB_NAME = `${NS}.amf-n2`;
const ANN = SVC.metadata?.annotations ?? {};
const SERVICE_PORT = SVC.spec?.ports?.[0]?.port as number;
const PROBE_PORT = Number(ANN['loxilb.io/probeport']);

// Addresses. The VIPs are the doc's (192.0.2.0/24, documentation range): the primary from the pool
// below, the secondaries from loxilb.io/secondaryIPs. The client's two links use the other two
// documentation ranges: usrsctp, like every BSD-derived stack, lists no private (RFC 1918) address in
// an INIT to a global one, so a client on 10.x would associate single-homed with these VIPs. None of
// these leaves the namespaces: the VIPs are local in the LB namespace and host routes in the client's;
// the host namespace has no route to any of them, the LB namespace none to the host but the /30.
// 10.204.x (the endpoint link, the management /30) is this test's own; no other e2e test uses it.
const MGMT = { host: '10.204.0.1', lb: '10.204.0.2' };
const PRIMARY = '192.0.2.100';
const SECONDARY = (ANN['loxilb.io/secondaryIPs'] ?? '').split(',').map((s) => s.trim());
if (SECONDARY.length !== 2)
  throw new Error(`the doc's example should have 2 secondaryIPs: ${SECONDARY.join()}`);
const PLAN: SctpPlan = {
  family: 4,
  client: ['198.51.100.2', '203.0.113.2'],
  lbSide: ['198.51.100.1', '203.0.113.1', '10.204.2.1'],
  endpoint: '10.204.2.2',
  vips: [PRIMARY, SECONDARY[0] ?? '', SECONDARY[1] ?? ''],
  vipNet: '192.0.2.0/24',
  plen: 24,
};
const VIPS: readonly string[] = PLAN.vips;

interface SctpStatus {
  running: boolean;
  error?: string;
  associations: AssociationView[];
}

/**
 * The node's side of the NodePort path, a stand-in for kube-proxy: the NodePort → the AMF's port
 * (targetPort 38412, also the probeport: the AMF listens on the node's address), and that port → 7,
 * the only port usrsctp's echo_server listens on. Replies towards the VIPs (the association) leave
 * from the NodePort, others (the LB's probe) from 38412.
 *
 * Stateless on purpose. kube-proxy NATs with conntrack, which follows only the paths the LB opened:
 * the endpoint's own HEARTBEATs to the secondary VIPs leave from the pod's port, those paths never
 * confirm, and the client cannot fail over (seen with a conntrack `dnat` here instead: echo stopped at
 * the link cut). So this proves ferrolb's side of the node-port path; on real nodes a multihomed SCTP
 * service wants pod endpoints (ferrolb.io/endpoint-type: pod) or a node that translates every path.
 */
const nodeRules = (nodePort: number, targetPort: number) => `
table ip kubeproxy {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    sctp dport { ${nodePort}, ${targetPort} } sctp dport set 7 notrack
  }
  chain out {
    type filter hook output priority raw; policy accept;
    ip daddr { ${VIPS.join(', ')} } sctp sport 7 sctp sport set ${nodePort} notrack
    sctp sport 7 sctp sport set ${targetPort} notrack
  }
}
`;

describe(
  'ferrolb agent serves a kube-loxilb SCTP N2 Service as a multihomed SCTP load balancer',
  { skip, timeout: 180_000 },
  () => {
    const topo = new Topology();
    let dir: ReturnType<typeof tempDir>;
    let bed: SctpBed;
    let emu: KubeEmulator | undefined;
    let core: CoreV1Api;
    let controller: Controller | undefined;
    let agent: Daemon | undefined;
    let nodePort = 0;
    const dumps: ChildProcess[] = [];

    const ctl = (args: string[]) =>
      nsExec(bed.lb, process.execPath, [FERROCTL, '--server', (agent as Daemon).url, ...args], {
        timeoutMs: 20_000,
      });
    const sctpStatus = async () => JSON.parse(await ctl(['get', 'sctp', '-o', 'json'])) as SctpStatus;
    const lbView = async () =>
      JSON.parse(await ctl(['describe', 'lb', LB_NAME, '-o', 'json'])) as LoadBalancerView;
    const logs = () => agent?.logs.join('\n') ?? '';

    before(async () => {
      dir = tempDir('ferrolb-k8s-agent-sctp-');
      bed = await buildSctpBed(topo, PLAN);
      await topo.link(HOST, [`${MGMT.host}/30`], bed.lb, [`${MGMT.lb}/30`]);
      const started = await startEmulator({ host: MGMT.host, allocateNodePorts: true });
      emu = started.emu;
      const kc = started.kc;
      core = kc.makeApiClient(CoreV1Api);
      // The primary comes from here; the requested secondaryIPs must lie inside a pool as well.
      await createPool(kc, 'n2', [`${PRIMARY}-${SECONDARY[SECONDARY.length - 1]}`]);
      // The node the AMF runs on, as the kubelet reports it (status is a subresource: set after create).
      const node = await core.createNode({ body: { metadata: { name: 'node-b' } } });
      node.status = {
        addresses: [{ type: 'InternalIP', address: PLAN.endpoint }],
        conditions: [{ type: 'Ready', status: 'True' } as never],
      };
      await core.replaceNodeStatus({ name: 'node-b', body: node });
      await core.createNamespacedService({ namespace: NS, body: SVC });
      // The AMF pod on that node's network (its address is the node's); ready.
      await kc.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
        namespace: NS,
        body: {
          metadata: { name: 'amf-n2-1', labels: { 'kubernetes.io/service-name': 'amf-n2' } },
          addressType: 'IPv4',
          endpoints: [{ addresses: [PLAN.endpoint], nodeName: 'node-b', conditions: { ready: true } }],
          ports: [{ port: SVC.spec?.ports?.[0]?.targetPort as number, protocol: 'SCTP' }],
        },
      });
      controller = runController({
        kubeConfig: kubeConfigAs(emu as KubeEmulator, CONTROLLER_SA),
        leaderElection: false,
        debounceMs: 5,
        config: { loxilbCompat: true },
      });
    });

    after(async () => {
      try {
        if (agent) await stopDaemon(agent, 'SIGKILL');
        await controller?.stop();
        await emu?.stop();
      } finally {
        await topo.cleanup();
        dir?.remove();
      }
      // Nothing of ours may outlive the test: namespaces, or the management link's host end.
      const left = [
        ...(await sh('ip', ['netns', 'list'])).split('\n').filter((l) => l.includes(`fl${topo.id}`)),
        ...(await sh('ip', ['-o', 'link', 'show'])).split('\n').filter((l) => l.includes(`v${topo.id}`)),
      ];
      assert.deepEqual(left, [], 'left behind after cleanup');
    });

    it('the controller allocates: status has the primary IP (ip, not hostname) and ipMode Proxy', async () => {
      const svc = await waitFor(
        'Service status',
        async () => {
          const s = await core.readNamespacedService({ name: 'amf-n2', namespace: NS });
          return (s.status?.loadBalancer?.ingress?.length ?? 0) === 3 ? s : undefined;
        },
        20_000,
        100,
      );
      const ingress = svc.status?.loadBalancer?.ingress ?? [];
      assert.deepEqual(
        ingress.map((i) => [i.ip, i.ipMode, i.hostname ?? null]),
        VIPS.map((ip) => [ip, 'Proxy', null]),
      );
      // The API server gave the Service its NodePort: the port the LB sends to.
      nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
      assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);
    });

    it('the agent in the LB namespace serves it: sctp probe on probeport, engine, VIPs, queue rules', async () => {
      assert.ok(nodePort > 0, 'no nodePort (the controller step failed)');
      const rules = join(dir.path, 'node.nft');
      writeFileSync(rules, nodeRules(nodePort, PROBE_PORT));
      await nsExec(bed.b, 'nft', ['-f', rules]);
      dumps.push(startCapture(topo, bed.b, join(dir.path, 'endpoint.pcap')));
      topo.spawn(bed.b, `${USRSCTP}/echo_server`, []);
      await new Promise((r) => setTimeout(r, 1000)); // tcpdump and echo_server have no readiness signal

      const kubeconfig = join(dir.path, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        kubeconfigYaml(
          (emu as KubeEmulator).url,
          (emu as KubeEmulator).tokenFor(AGENT_SA.namespace, AGENT_SA.name),
        ),
      );
      agent = await startAgent(
        [
          ...['--kubeconfig', kubeconfig, '--loxilb-compat', '--state-dir', dir.path, '--node-name', 'lb-1'],
          ...['--dataplane', 'on', '--probes', 'on', '--bgp-port', 'off'],
        ],
        { prefix: ['ip', 'netns', 'exec', bed.lb], timeoutMs: 20_000 },
      );
      const lb = await waitFor(
        'the endpoint probed active',
        async () => {
          const v = await lbView();
          return v.endpoints[0]?.state === 'active' ? v : undefined;
        },
        30_000,
        250,
      ).catch((e: Error) => assert.fail(`${e.message}\n${logs()}`));
      // The doc's annotations, mapped: fullnat, sctp liveness, the secondaryIPs; the node + NodePort.
      assert.deepEqual(lb.addresses, [PRIMARY]);
      assert.deepEqual(lb.secondaryAddresses, SECONDARY);
      assert.equal(lb.mode, 'fullnat');
      assert.equal(lb.healthCheck, 'sctp');
      assert.deepEqual(lb.ports, [{ port: SERVICE_PORT, protocol: 'SCTP', targetPort: nodePort }]);
      assert.deepEqual(
        lb.endpoints.map((e) => [e.address, e.port]),
        [[PLAN.endpoint, nodePort]],
      );
      // The probe went to loxilb.io/probeport, not to the NodePort.
      assert.ok(logs().includes(`INIT-ACK from ${PLAN.endpoint}:${PROBE_PORT}`), logs());

      const st = await waitFor('sctp engine running', async () => {
        const x = await sctpStatus();
        return x.running ? x : undefined;
      }).catch((e: Error) => assert.fail(`${e.message}\n${logs()}`));
      assert.equal(st.error, undefined);
      // Not compiled into the nft DNAT table; its VIPs are local (on the SCTP shell's interface).
      const table = await nsExec(bed.lb, 'nft', ['list', 'table', 'inet', 'ferrolb']).catch(() => '');
      for (const v of VIPS) assert.ok(!table.includes(v), `${v} reached the nft DNAT table`);
      const addrs = await nsExec(bed.lb, 'ip', ['-o', 'addr', 'show']);
      for (const v of VIPS) assert.ok(addrs.includes(` ${v}/`), `${v} is not local`);
      const mangle = await nsExec(bed.lb, 'iptables', ['-t', 'mangle', '-S']);
      for (const v of VIPS) assert.match(mangle, new RegExp(`-d ${v}/32 .*NFQUEUE`), mangle);
    });

    it('a two-link client associates through the VIPs; echo survives a cut of its primary link', async () => {
      assert.ok(agent, 'no agent (an earlier step failed)');
      const client = topo.spawn(bed.c, `${USRSCTP}/client`, [PRIMARY, String(SERVICE_PORT)]);
      const out = collect(client);
      let n = 0;
      // A batch is written at once, then every echo awaited: after the cut the client retries its dead
      // primary with a backed-off RTO before it moves the chunks to the other path.
      const send = async (label: string, count: number, timeoutMs: number) => {
        const lines = Array.from({ length: count }, () => `${label}-${n++}`);
        for (const l of lines) client.stdin?.write(`${l}\n`);
        await waitFor(
          `echo of ${lines.join(', ')}`,
          () => (lines.every((l) => out.text().includes(l)) ? true : undefined),
          timeoutMs,
        );
      };
      await send('before', 3, 30_000);

      const st = await sctpStatus();
      assert.equal(st.associations.length, 1, JSON.stringify(st));
      const a = st.associations[0] as AssociationView;
      assert.equal(a.service, LB_NAME);
      assert.equal(a.state, 'established');
      assert.deepEqual([...a.clientAddresses].sort(), [...PLAN.client].sort());
      assert.deepEqual([...a.serviceAddresses].sort(), [...VIPS].sort());
      assert.equal(a.servicePort, SERVICE_PORT);
      assert.deepEqual(a.endpoint, [PLAN.endpoint]);
      assert.equal(a.endpointPort, nodePort);
      // Client side: every client address × every VIP, each mapped to "VIP → endpoint".
      const clientPaths = a.paths.filter((p) => p.side === 'client');
      assert.equal(clientPaths.length, PLAN.client.length * VIPS.length);
      for (const p of clientPaths) {
        assert.ok(VIPS.includes(p.vip), p.vip);
        assert.ok(p.mapsTo.endsWith(`→ ${PLAN.endpoint}`), p.mapsTo);
        assert.ok(VIPS.includes(p.mapsTo.split(' ')[0] ?? ''), p.mapsTo);
      }
      assert.match(await ctl(['get', 'sctp']), new RegExp(`${LB_NAME.replace('.', '\\.')}\\s+established`));
      const wide = await ctl(['get', 'sctp', '-o', 'wide']);
      for (const c of PLAN.client) for (const v of VIPS) assert.ok(wide.includes(`${c} → ${v}`), wide);

      // Cut the primary link at the LB's end (the client keeps its routes; its packets vanish).
      await nsExec(bed.lb, 'ip', ['link', 'set', bed.lbDevs[0], 'down']);
      await send('cut', 3, 60_000);
      await nsExec(bed.lb, 'ip', ['link', 'set', bed.lbDevs[0], 'up']);
      await send('restored', 2, 60_000);
      const after = (await sctpStatus()).associations;
      assert.deepEqual(
        after.map((x) => [x.id, x.state]),
        [[a.id, 'established']],
        'the association did not survive the cut',
      );

      client.stdin?.end();
      await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 30_000);
      // usrsctp's client prints its notifications at exit: the service looks multihomed to it.
      assert.ok(out.text().includes(`Peer addresses: ${VIPS.join(', ')}.`), out.text());
      await waitFor(
        'association table empty',
        async () => ((await sctpStatus()).associations.length === 0 ? true : undefined),
        15_000,
        250,
      );
    });

    it('the endpoint saw only VIPs, on the NodePort', async () => {
      await stopCaptures(dumps);
      const pkts = capturedPackets(join(dir.path, 'endpoint.pcap'));
      assert.ok(pkts.length > 10, `endpoint: only ${pkts.length} packets captured`);
      assertNeverSeen(pkts, PLAN.client, 'endpoint');
      // Everything of the association reached the node on its NodePort; from (and to) every VIP.
      const fromVips = pkts.filter((p) => VIPS.includes(formatIp(p.ip.src)));
      const ports = new Set(fromVips.map((p) => decodeSctp(p.payload).dstPort));
      assert.deepEqual([...ports], [nodePort]);
      const peers = (sel: (p: (typeof pkts)[number]) => string) =>
        [...new Set(pkts.map(sel).filter((x) => VIPS.includes(x)))].sort();
      assert.deepEqual(
        peers((p) => formatIp(p.ip.src)),
        [...VIPS].sort(),
        'VIPs the endpoint heard from',
      );
      assert.deepEqual(
        peers((p) => formatIp(p.ip.dst)),
        [...VIPS].sort(),
        'VIPs the endpoint sent to',
      );
    });

    it('SIGTERM: the agent exits 0 and leaves no table, rule, interface or VIP in the LB namespace', async () => {
      const d = agent as Daemon;
      assert.ok(d, 'no agent (an earlier step failed)');
      const r = await stopDaemon(d, 'SIGTERM');
      agent = undefined;
      assert.equal(r.code, 0, d.logs.join('\n'));
      const ruleset = await nsExec(bed.lb, 'nft', ['list', 'ruleset']);
      assert.ok(!/table inet ferrolb|ferrolb_sctp/.test(ruleset), ruleset);
      for (const t of ['mangle', 'raw']) {
        const rules = await nsExec(bed.lb, 'iptables', ['-t', t, '-S']);
        assert.ok(!/FERROLB|NFQUEUE|NOTRACK/.test(rules), `iptables -t ${t} left:\n${rules}`);
      }
      const links = await nsExec(bed.lb, 'ip', ['-o', 'link', 'show']);
      assert.ok(!links.includes('ferrolb'), links);
      const addrs = await nsExec(bed.lb, 'ip', ['-o', 'addr', 'show']);
      for (const v of VIPS) assert.ok(!addrs.includes(` ${v}/`), `${v} left on the node`);
    });
  },
);
