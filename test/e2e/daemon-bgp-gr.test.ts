// The daemon against FRR 8.4 (zebra + bfdd + bgpd, routes into the router namespace's kernel) and
// BIRD2, with a client that reaches the VIP through FRR: issue 14 asserted on what the routers hold
// and on traffic. Stable router ID (#2), per-session next hops and an IPv6 next hop over an IPv4
// session (#8, #9), a session resets only for its own settings, BFD timers by Poll (#5), planned
// restart with --keep-forwarding keeps the VIP (#3), a crash with BFD + GR keeps it too (#4).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { Bird, Frr } from '../fixtures/bgp/e2e-harness.js';
import { startBackend } from './support-dataplane/topo.js';
import type { BgpStatus } from '../../src/bgp/index.js';

const skip = e2eSkipReason();
const PROBE = fileURLToPath(new URL('../fixtures/bgp/probe.js', import.meta.url));
const VIP = '198.51.100.65';
const VIP2 = '198.51.100.67';
const VIP6 = '2001:db8:64::5';
/** A pool address an operator put on an interface of its own, before the uplinks existed. */
const ON_IFACE = '198.51.100.66';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Cfg {
  bfdMs: number;
  frrHold: string;
  web2: boolean;
  spare: boolean;
}
const config = (c: Cfg) => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["198.51.100.64/28", "2001:db8:64::/124"]}
---
apiVersion: ferrolb.io/v1
kind: BFDProfile
metadata: {name: fast}
spec: {receiveInterval: ${c.bfdMs}, transmitInterval: ${c.bfdMs}, detectMultiplier: 3}
---
apiVersion: ferrolb.io/v1
kind: BGPPeer
metadata: {name: frr}
spec: {myASN: 64512, peerASN: 64600, peerAddress: 10.60.0.2, holdTime: ${c.frrHold}, enableGracefulRestart: true, bfdProfile: fast, nextHopV6: "fd60::1"}
---
apiVersion: ferrolb.io/v1
kind: BGPPeer
metadata: {name: bird}
spec: {myASN: 64512, peerASN: 64601, peerAddress: 10.61.0.2, holdTime: 9s, enableGracefulRestart: true, bfdProfile: fast}
${
  c.spare
    ? `---
apiVersion: ferrolb.io/v1
kind: BGPPeer
metadata: {name: spare}
spec: {myASN: 64512, peerASN: 64700, peerAddress: 10.61.0.9, holdTime: 9s}`
    : ''
}
---
apiVersion: ferrolb.io/v1
kind: BGPAdvertisement
metadata: {name: all}
spec: {}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec:
  addresses: ["${VIP}"]
  ports: [{port: 80, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["10.62.0.1"]
  endpoints: [{address: 10.62.0.2}]
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web6}
spec:
  addresses: ["${VIP6}"]
  ports: [{port: 80, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["fd62::1"]
  endpoints: [{address: "fd62::2"}]
${
  c.web2
    ? `---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web2}
spec:
  addresses: ["${VIP2}"]
  ports: [{port: 80, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["10.62.0.1"]
  endpoints: [{address: 10.62.0.2}]`
    : ''
}
`;

describe(
  'daemon BGP identity, resets and graceful restart against FRR and BIRD (issue 14)',
  { skip, timeout: 300_000 },
  () => {
    const topo = new Topology();
    const dir = tempDir();
    const state = join(dir.path, 'state');
    const cfgPath = join(dir.path, 'cfg.yaml');
    let lb = '';
    let client = '';
    let frr: Frr;
    let bird: Bird;
    let daemon: Daemon | undefined;
    let cfg: Cfg = { bfdMs: 100, frrHold: '9s', web2: false, spare: false };

    const start = async (): Promise<Daemon> => {
      daemon = await startDaemon(
        [
          '--config',
          cfgPath,
          '--state-dir',
          state,
          '--dataplane',
          'on',
          '--probes',
          'off',
          '--keep-forwarding',
        ],
        {},
        30_000,
        ['ip', 'netns', 'exec', lb],
      );
      return daemon;
    };
    const reconfigure = async (next: Partial<Cfg>): Promise<void> => {
      cfg = { ...cfg, ...next };
      writeFileSync(cfgPath, config(cfg));
      daemon?.proc.kill('SIGHUP');
    };
    const ctl = (args: string[]) =>
      nsExec(lb, process.execPath, [FERROCTL, '--server', daemon?.url ?? '', ...args], { timeoutMs: 20_000 });
    const frrNeighbor = () => frr.neighbor('10.60.0.1');
    const frrBfdCounters = async () => {
      const all = await frr.json<{ peer: string; 'session-up': number; 'session-down': number }[]>(
        'show bfd peers counters json',
      );
      const p = all.find((x) => x.peer === '10.60.0.1');
      assert.ok(p, `FRR has no BFD session for 10.60.0.1: ${JSON.stringify(all)}`);
      return p;
    };
    const frrEstablished = async () => Number((await frrNeighbor()).connectionsEstablished ?? 0);
    const birdUps = () => (bird.log.join('').match(/ferrolb: State changed to up/g) ?? []).length;
    const birdHas = async (p: string) => (await bird.routes()).has(p);
    const frrHas = async (p: string) => ((await frr.routes()).get(p) ?? []).some((x) => x.valid);
    const bothUp = () =>
      waitFor(
        'FRR and BIRD established with the VIP',
        async () =>
          (await frrNeighbor()).bgpState === 'Established' &&
          (await frrHas(`${VIP}/32`)) &&
          (await birdHas(`${VIP}/32`))
            ? true
            : undefined,
        30_000,
        200,
      );
    /** Runs the client probe for `ms` while `during` runs; returns its result. */
    const probeDuring = async (ms: number, during: () => Promise<void>) => {
      const p = topo.spawn(client, process.execPath, [PROBE, `http://${VIP}/`, String(ms), '50']);
      let out = '';
      p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => p.once('exit', r));
      await during();
      await exited;
      return JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
        ok: number;
        errors: number;
        failures: unknown[];
      };
    };
    /** Polls both routers until `stop()`; returns each time a router did not hold the VIP. */
    const watchRoutes = () => {
      const gaps: string[] = [];
      let on = true;
      const loop = (async () => {
        while (on) {
          if (!(await frrHas(`${VIP}/32`))) gaps.push(`FRR at ${new Date().toISOString()}`);
          if (!(await birdHas(`${VIP}/32`))) gaps.push(`BIRD at ${new Date().toISOString()}`);
          await sleep(150);
        }
      })();
      return {
        gaps,
        stop: async () => {
          on = false;
          await loop;
        },
      };
    };

    before(async () => {
      lb = await topo.addNs('lb');
      const rt = await topo.addNs('rt');
      const bd = await topo.addNs('bd');
      client = await topo.addNs('c');
      const b = await topo.addNs('b');
      await nsExec(lb, 'ip', ['link', 'add', 'svc0', 'type', 'bridge']);
      await nsExec(lb, 'ip', ['addr', 'add', `${ON_IFACE}/32`, 'dev', 'svc0']);
      await nsExec(lb, 'ip', ['link', 'set', 'svc0', 'up']);
      await topo.link(client, ['10.63.0.2/24'], rt, ['10.63.0.1/24']);
      await topo.link(rt, ['10.60.0.2/24', 'fd60::2/64'], lb, ['10.60.0.1/24', 'fd60::1/64']);
      await topo.link(bd, ['10.61.0.2/24'], lb, ['10.61.0.1/24']);
      await topo.link(b, ['10.62.0.2/24', 'fd62::2/64'], lb, ['10.62.0.1/24', 'fd62::1/64']);
      await nsExec(client, 'ip', ['route', 'add', 'default', 'via', '10.63.0.1']);
      await nsExec(rt, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await nsExec(lb, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await nsExec(lb, 'ip', ['route', 'add', '10.63.0.0/24', 'via', '10.60.0.2']);
      await startBackend(topo, { name: 'b1', ns: b, v4: '10.62.0.2', v6: 'fd62::2' });
      frr = await Frr.start(topo, rt, dir.path, {
        asn: 64600,
        routerId: '10.60.0.2',
        gr: true,
        neighbors: [
          {
            address: '10.60.0.1',
            peerAsn: 64512,
            holdTime: 9,
            families: ['ipv4', 'ipv6'],
            bfd: { checkControlPlaneFailure: true, intervalMs: 100 },
          },
        ],
      });
      bird = Bird.start(topo, bd, dir.path, {
        routerId: '10.61.0.2',
        asn: 64601,
        extra:
          'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
        sessions: [
          {
            name: 'ferrolb',
            local: '10.61.0.2',
            neighbor: '10.61.0.1',
            peerAsn: 64512,
            holdTime: 9,
            gr: true,
            bfd: true,
            bfdGraceful: true,
          },
        ],
      });
      await bird.ready();
      writeFileSync(cfgPath, config(cfg));
      await start();
    });

    after(async () => {
      if (daemon) await stopDaemon(daemon);
      await topo.cleanup();
      dir.remove();
    });

    it('both routers hold the VIP and the client reaches it through FRR', async () => {
      await bothUp();
      const r = await probeDuring(1000, async () => undefined);
      assert.equal(r.errors, 0, JSON.stringify(r));
      assert.ok(r.ok >= 5);
    });

    it('#2 router ID: derived from a node address (not the service address on svc0), persisted, seen by both routers', async () => {
      const id = readFileSync(join(state, 'bgp-router-id'), 'utf8').trim();
      assert.ok(['10.60.0.1', '10.61.0.1', '10.62.0.1'].includes(id), `router id ${id}`);
      assert.equal((await frrNeighbor()).remoteRouterId, id);
      const p = await nsExec(bird.ns, 'birdc', ['-s', bird.sock, 'show', 'protocols', 'all', 'ferrolb']);
      assert.match(p, new RegExp(`Neighbor ID:\\s+${id.replace(/\./g, '\\.')}`));
    });

    it('#8 #9 each router holds its own session’s next hop; FRR holds the IPv6 VIP via the configured IPv6 next hop', async () => {
      const frrPath = (await frr.routes()).get(`${VIP}/32`)?.[0];
      assert.deepEqual(frrPath?.nextHops, ['10.60.0.1']);
      assert.equal((await bird.routes()).get(`${VIP}/32`)?.['BGP.next_hop'], '10.61.0.1');
      const v6 = await waitFor(
        'IPv6 VIP at FRR',
        async () => (await frr.routes('ipv6')).get(`${VIP6}/128`),
        15_000,
        200,
      );
      assert.ok(v6[0]?.nextHops.includes('fd60::1'), JSON.stringify(v6));
      assert.equal(v6[0]?.valid, true);
      const st = JSON.parse(await ctl(['get', 'bgp', '-o', 'json'])) as BgpStatus;
      const r = st.routes.find((x) => x.prefix === `${VIP}/32`);
      assert.deepEqual(
        [...(r?.nextHops ?? [])].sort((a, b) => a.peer.localeCompare(b.peer)),
        [
          { peer: 'bird', nextHop: '10.61.0.1' },
          { peer: 'frr', nextHop: '10.60.0.1' },
        ],
      );
      const text = await ctl(['get', 'bgp']);
      assert.match(text, new RegExp(`${VIP}/32\\s+10\\.60\\.0\\.1[^\\n]*frr`));
      assert.match(text, new RegExp(`${VIP}/32\\s+10\\.61\\.0\\.1[^\\n]*bird`));
      // BIRD's session is IPv4 only for next hops: the IPv6 route is skipped there, saying why.
      assert.match(text, /bird\s+2001:db8:64::5\/128\s+skipped\s+no IPv6 next hop/);
    });

    it('#5 services, another peer and BFD timers change without a reset (BFD Poll); the peer’s own hold time resets it', async () => {
      const e0 = await frrEstablished();
      const b0 = birdUps();
      assert.ok(e0 >= 1 && b0 >= 1, `counters work: FRR ${e0}, BIRD ${b0}`);
      const bfd0 = await frrBfdCounters();
      assert.ok(bfd0['session-up'] >= 1, `FRR BFD counters work: ${JSON.stringify(bfd0)}`);
      await reconfigure({ web2: true });
      await waitFor(
        'VIP2 at both',
        async () => ((await frrHas(`${VIP2}/32`)) && (await birdHas(`${VIP2}/32`)) ? true : undefined),
        20_000,
        200,
      );
      await reconfigure({ spare: true });
      await waitFor(
        'spare peer configured',
        async () =>
          (JSON.parse(await ctl(['get', 'bgp', '-o', 'json'])) as BgpStatus).sessions.some(
            (s) => s.peer === 'spare',
          )
            ? true
            : undefined,
        15_000,
        200,
      );
      await reconfigure({ bfdMs: 200 });
      const peer = await waitFor(
        'FRR sees the new BFD intervals',
        async () => {
          const all = await frr.json<
            {
              peer: string;
              status: string;
              'remote-transmit-interval'?: number;
              'remote-receive-interval'?: number;
            }[]
          >('show bfd peers json');
          const p = all.find((x) => x.peer === '10.60.0.1');
          return p && p['remote-transmit-interval'] === 200 && p['remote-receive-interval'] === 200
            ? p
            : undefined;
        },
        15_000,
        200,
      );
      assert.equal(peer.status, 'up');
      await sleep(1500);
      assert.equal(
        await frrEstablished(),
        e0,
        `FRR session reset: ${String((await frrNeighbor()).lastResetDueTo)}`,
      );
      assert.equal(birdUps(), b0, 'BIRD session reset');
      // FRR's own session counters, not its uptime: the session may be younger than any fixed bound.
      const bfd1 = await frrBfdCounters();
      assert.deepEqual(
        [bfd1['session-up'], bfd1['session-down']],
        [bfd0['session-up'], bfd0['session-down']],
        `FRR BFD session restarted: ${JSON.stringify({ before: bfd0, after: bfd1 })}`,
      );
      await reconfigure({ frrHold: '12s' });
      await waitFor(
        'FRR session re-established for its own hold time',
        async () =>
          (await frrEstablished()) === e0 + 1 && (await frrNeighbor()).bgpState === 'Established'
            ? true
            : undefined,
        30_000,
        200,
      );
      assert.equal(birdUps(), b0, 'BIRD session untouched by the other peer’s change');
    });

    it('#3 planned restart with --keep-forwarding: no Cease, routers keep the VIP, the client never loses it; End-of-RIB flushes what went', async () => {
      await bothUp();
      const idBefore = (await frrNeighbor()).remoteRouterId;
      const watch = watchRoutes();
      const r = await probeDuring(14_000, async () => {
        await sleep(1000);
        const d = daemon as Daemon;
        const x = await stopDaemon(d);
        assert.equal(x.code, 0);
        // While we are down: FRR holds our routes as stale (graceful restart), nothing was withdrawn.
        const stale = await waitFor(
          'stale at FRR',
          async () => ((await frr.routes()).get(`${VIP}/32`)?.[0]?.stale ? true : undefined),
          5000,
          100,
        );
        assert.ok(stale);
        // A service deleted while the daemon was down: End-of-RIB after the restart must flush it.
        cfg = { ...cfg, web2: false };
        writeFileSync(cfgPath, config(cfg));
        await sleep(2000);
        await start();
        await waitFor(
          'fresh routes after End-of-RIB',
          async () => {
            const f = (await frr.routes()).get(`${VIP}/32`)?.[0];
            return f && !f.stale && !(await frrHas(`${VIP2}/32`)) && !(await birdHas(`${VIP2}/32`))
              ? true
              : undefined;
          },
          30_000,
          200,
        );
      });
      await watch.stop();
      assert.deepEqual(watch.gaps, [], 'a router lost the VIP during the restart');
      assert.equal(r.errors, 0, `client lost the VIP: ${JSON.stringify(r.failures)}`);
      assert.ok(r.ok > 100, `probe ran (${r.ok} answers)`);
      const reset = String((await frrNeighbor()).lastResetDueTo ?? '');
      process.stdout.write(`# FRR's last reset after the planned restart: ${reset}\n`);
      assert.doesNotMatch(reset, /notification|cease/i, 'no Cease from us');
      assert.equal((await frrNeighbor()).remoteRouterId, idBefore, '#2: same identifier after the restart');
      assert.ok(readFileSync(join(state, 'bgp.running'), 'utf8'), 'marker present while running');
    });

    it('#4 hung daemon (SIGSTOP) past BFD detection while the kernel forwards: FRR keeps session and VIP', async () => {
      await bothUp();
      const e0 = await frrEstablished();
      const watch = watchRoutes();
      const r = await probeDuring(7000, async () => {
        await sleep(500);
        (daemon as Daemon).proc.kill('SIGSTOP');
        try {
          // BFD (3 × 200 ms) expires at both routers long before any hold timer (9 s, 12 s). With the C
          // bit set FRR (check-control-plane-failure) takes that for a forwarding failure and flushes.
          await waitFor(
            'FRR sees BFD down',
            async () => {
              const all = await frr.json<{ peer: string; status: string }[]>('show bfd peers json');
              return all.find((x) => x.peer === '10.60.0.1')?.status !== 'up' ? true : undefined;
            },
            5000,
            50,
          );
          await sleep(2000);
          assert.equal(
            (await frrNeighbor()).bgpState,
            'Established',
            'FRR kept the session through BFD down',
          );
          assert.equal(await frrEstablished(), e0);
        } finally {
          (daemon as Daemon).proc.kill('SIGCONT');
        }
        await bothUp();
      });
      await watch.stop();
      assert.deepEqual(watch.gaps, [], 'a router dropped the VIP while the daemon hung');
      assert.equal(r.errors, 0, `client lost the VIP: ${JSON.stringify(r.failures)}`);
    });

    it('#4 crash (SIGKILL) with BFD and graceful restart: FRR (check-control-plane-failure) and BIRD (bfd graceful) keep the VIP', async () => {
      await bothUp();
      const frrBfd = (
        await frr.json<{ peer: string; 'remote-cbit'?: boolean; status: string }[]>('show bfd peers json')
      ).find((x) => x.peer === '10.60.0.1');
      assert.equal(frrBfd?.status, 'up');
      const watch = watchRoutes();
      const r = await probeDuring(9000, async () => {
        await sleep(500);
        (daemon as Daemon).proc.kill('SIGKILL');
        await (daemon as Daemon).exited;
        // Well past BFD detection (3 × 300 ms at FRR): the routes must still be there.
        await sleep(3000);
        await start();
        await bothUp();
      });
      await watch.stop();
      assert.deepEqual(watch.gaps, [], 'a router flushed the VIP when BFD went down');
      assert.equal(r.errors, 0, `client lost the VIP: ${JSON.stringify(r.failures)}`);
    });
  },
);
