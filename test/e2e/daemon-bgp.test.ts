// The daemon announces its service addresses to a real BIRD2 router: config objects (ours and
// MetalLB's, unchanged) → speaker → BIRD's table; withdrawal on delete and when no endpoint is active.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { Bird } from '../fixtures/bgp/e2e-harness.js';
import type { BgpStatus } from '../../src/bgp/index.js';

const skip = e2eSkipReason();

const config = `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips, labels: {announce: bgp}}
spec: {addresses: ["198.51.100.0/28", "2001:db8:77::/124"]}
---
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: sctp-secondary}
spec: {addresses: ["203.0.113.0/29"], autoAssign: false}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rt-v4, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64600, peerAddress: 10.56.0.2, holdTime: 9s}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: aliases, namespace: metallb-system}
spec: {communities: [{name: no-export-ish, value: "64512:99"}]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: vips, namespace: metallb-system}
spec: {ipAddressPoolSelectors: [{matchLabels: {announce: bgp}}], communities: [no-export-ish], localPref: 200}
---
apiVersion: ferrolb.io/v1
kind: BGPAdvertisement
metadata: {name: secondary}
spec: {ipAddressPools: [sctp-secondary], med: 50, communities: ["large:64512:2:3"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec: {addresses: ["198.51.100.1"], ports: [{port: 80}], endpoints: [{address: 10.56.1.2}]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: amf}
spec:
  addresses: ["198.51.100.2"]
  secondaryPools: [sctp-secondary]
  mode: fullnat
  ports: [{port: 38412, protocol: SCTP}]
  endpoints: [{address: 10.56.1.3}]
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: dead}
spec:
  addresses: ["198.51.100.3"]
  ports: [{port: 80}]
  endpoints: [{address: 10.56.1.4}]
  healthCheck: {type: tcp, interval: 300ms, timeout: 200ms, unhealthyThreshold: 1}
`;

describe('daemon announces service addresses to BIRD2', { skip, timeout: 120_000 }, () => {
  const topo = new Topology();
  const dir = tempDir();
  let lb = '';
  let rt = '';
  let bird: Bird;
  let daemon: Daemon;
  const ctl = (args: string[]) =>
    nsExec(lb, process.execPath, [FERROCTL, '--server', daemon.url, ...args], { timeoutMs: 20_000 });

  before(async () => {
    lb = await topo.addNs('lb');
    rt = await topo.addNs('rt');
    await topo.link(lb, ['10.56.0.1/24'], rt, ['10.56.0.2/24']);
    bird = Bird.start(topo, rt, dir.path, {
      routerId: '10.56.0.2',
      asn: 64600,
      sessions: [{ name: 'ferrolb', local: '10.56.0.2', neighbor: '10.56.0.1', peerAsn: 64512, holdTime: 9 }],
    });
    await bird.ready();
    writeFileSync(join(dir.path, 'cfg.yaml'), config);
    daemon = await startDaemon(
      [
        '--config',
        join(dir.path, 'cfg.yaml'),
        '--state-dir',
        dir.path,
        '--dataplane',
        'off',
        '--probes',
        'on',
        '--router-id',
        '10.56.0.1',
      ],
      {},
      20_000,
      ['ip', 'netns', 'exec', lb],
    );
  });

  after(async () => {
    if (daemon) await stopDaemon(daemon);
    await topo.cleanup();
    dir.remove();
  });

  it('announces primary and secondary addresses with their own attributes; next hop is the session address', async () => {
    const routes = await waitFor(
      'routes at BIRD',
      async () => {
        const r = await bird.routes();
        return r.has('198.51.100.1/32') && r.has('198.51.100.2/32') && r.has('203.0.113.0/32')
          ? r
          : undefined;
      },
      30_000,
      200,
    );
    const web = routes.get('198.51.100.1/32');
    assert.equal(web?.['BGP.next_hop'], '10.56.0.1');
    assert.equal(web?.['BGP.as_path'], '64512');
    assert.match(web?.['BGP.community'] ?? '', /\(64512,99\)/);
    const secondary = routes.get('203.0.113.0/32');
    assert.equal(secondary?.['BGP.med'], '50');
    assert.match(secondary?.['BGP.large_community'] ?? '', /\(64512, 2, 3\)/);
    assert.equal(secondary?.['BGP.community'], undefined, 'secondary pool has its own advertisement');
  });

  it('a service whose only endpoint is down is not announced', async () => {
    await waitFor(
      'dead endpoint inactive',
      async () => {
        const v = JSON.parse(await ctl(['describe', 'lb', 'dead', '-o', 'json'])) as {
          endpoints: { state: string }[];
        };
        return v.endpoints[0]?.state === 'inactive' ? true : undefined;
      },
      10_000,
    );
    assert.equal((await bird.routes()).has('198.51.100.3/32'), false);
  });

  it('ferroctl get bgp shows the session and the advertised routes', async () => {
    const st = JSON.parse(await ctl(['get', 'bgp', '-o', 'json'])) as BgpStatus;
    const s = st.sessions.find((x) => x.peer === 'rt-v4');
    assert.equal(s?.state, 'Established');
    assert.ok(
      st.routes.some((r) => String(r.prefix).startsWith('198.51.100.1')),
      JSON.stringify(st.routes),
    );
    const text = await ctl(['get', 'bgp']);
    assert.match(text, /rt-v4[\s\S]*Established/);
  });

  it('apply --wait returns once the address is sent to BIRD; describe names the peer; a dead one times out', async () => {
    const file = join(dir.path, 'waited.yaml');
    const lbYaml = (name: string, address: string, endpoint: string, extra = '') =>
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: ${name}}\nspec: {addresses: ["${address}"], ports: [{port: 80}], endpoints: [{address: ${endpoint}}]${extra}}\n`;
    writeFileSync(file, lbYaml('waited', '198.51.100.9', '10.56.1.2'));
    const out = await ctl(['apply', '--wait', '--timeout', '20s', '-f', file]);
    assert.match(out, /LoadBalancer\/waited created \(198\.51\.100\.9\)\nLoadBalancer\/waited ready\n/);
    // Sent means the UPDATE left: BIRD has it within moments.
    await waitFor(
      'route at BIRD',
      async () => ((await bird.routes()).has('198.51.100.9/32') ? true : undefined),
      2_000,
      50,
    );
    const text = await ctl(['describe', 'lb', 'waited']);
    assert.match(text, /Announcements:\n\s+BGP 198\.51\.100\.9\/32 sent to rt-v4/);
    // The history says when BGP took it up, not only the current state.
    assert.match(text, /Normal\s+BgpAdvertised\s+advertised by BGP: 198\.51\.100\.9\/32/);
    const dead = await ctl(['describe', 'lb', 'dead']);
    assert.match(dead, /BGP note: dead: not announced, no active endpoint/);
    assert.match(dead, /Warning\s+EndpointInactive\s+endpoint 10\.56\.1\.4: probe verdict inactive/);
    // A service whose endpoint never answers is not announced: --wait says so after its timeout.
    writeFileSync(
      file,
      lbYaml(
        'waited-dead',
        '198.51.100.10',
        '10.56.1.4',
        ', healthCheck: {type: tcp, interval: 300ms, timeout: 200ms, unhealthyThreshold: 1}',
      ),
    );
    await assert.rejects(
      ctl(['apply', '--wait', '--timeout', '2s', '-f', file]),
      /LoadBalancer\/waited-dead not ready after 2 s: BGP: waited-dead: not announced, no active endpoint/,
    );
  });

  it('deleting a service withdraws its address', async () => {
    await ctl(['delete', 'lb', 'web']);
    await waitFor(
      'withdrawn at BIRD',
      async () => ((await bird.routes()).has('198.51.100.1/32') ? undefined : true),
      10_000,
      100,
    );
    assert.ok((await bird.routes()).has('198.51.100.2/32'), 'others stay');
  });
});
