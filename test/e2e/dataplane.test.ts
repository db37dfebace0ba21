// Data plane e2e: the compiled nft table carries real traffic between network namespaces.
// client → LB (ferrolb's table + ferrolb0) → 3 backends on a bridge; real servers; every test builds
// and tears down its own namespaces.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { Applier } from '../../src/dataplane/applier.js';
import { netnsRunner } from '../../src/dataplane/exec.js';
import type { DataplaneService } from '../../src/dataplane/types.js';
import {
  buildLbTopology,
  eps,
  webService,
  CLIENT4,
  CLIENT6,
  httpBatch,
  LB_BR4,
  LB_BR6,
  tally,
  udpBatch,
  VIP4,
  VIP6,
  vipsText,
  type LbTopo,
} from './support-dataplane/topo.js';

const skip = e2eSkipReason();

async function withTopo(opts: Parameters<typeof buildLbTopology>[1], body: (t: LbTopo) => Promise<void>) {
  const topo = new Topology();
  try {
    await body(await buildLbTopology(topo, opts));
  } finally {
    await topo.cleanup();
  }
}

describe('data plane in the kernel', { skip }, () => {
  it('default mode: TCP and UDP over IPv4 and IPv6, round robin, client address preserved, counters, VIPs', async () => {
    await withTopo({}, async (t) => {
      const ap = new Applier({ run: t.run });
      const r = await ap.apply([webService(t)]);
      assert.ok(r.full && r.statements > 0);
      assert.deepEqual(new Set(r.vipsAdded), new Set([VIP4, VIP6]));
      for (const [vip, client] of [
        [VIP4, CLIENT4],
        [VIP6, CLIENT6],
      ] as const) {
        const b = await httpBatch(t, vip, 80, 30);
        assert.equal(b.errors, 0, `every ${vip} request answered`);
        assert.equal(b.replies.length, 30);
        // Round robin over 3 endpoints with sequential new connections: exactly 10 each.
        assert.deepEqual([...tally(b.replies).values()], [10, 10, 10]);
        for (const reply of b.replies) assert.equal(reply.split(' ')[1], client, 'source preserved');
        const u = await udpBatch(t, vip, 53, 12);
        assert.equal(u.errors, 0);
        assert.equal(tally(u.replies).size, 3);
      }
      const counters = await ap.counters();
      const svc = counters.find((c) => c.service === 'default/web');
      assert.ok(svc && svc.packets > 0);
      for (const b of t.backends) {
        const e4 = svc.endpoints.find((e) => e.address === b.v4);
        const e6 = svc.endpoints.find((e) => e.address === b.v6);
        // ≥ 10 HTTP connections × (SYN..FIN, both directions) per family per backend.
        assert.ok(e4 && e4.packets >= 50, `${b.name} v4 packets ${e4?.packets}`);
        assert.ok(e6 && e6.packets >= 50, `${b.name} v6 packets ${e6?.packets}`);
      }
      const addrs = await vipsText(t);
      assert.match(addrs, /(^| )10\.200\.0\.10( |$)/);
      assert.match(addrs, /(^| )fd00:200::10( |$)/);
      // Converged: the same desired state changes nothing, even through a fresh applier.
      assert.equal((await ap.apply([webService(t)])).statements, 0);
      assert.equal((await new Applier({ run: t.run }).apply([webService(t)])).statements, 0);
      await ap.shutdown(false);
      assert.equal((await t.run('nft', ['list', 'table', 'inet', 'ferrolb'])).code, 1);
      assert.notEqual((await t.run('ip', ['link', 'show', 'ferrolb0'])).code, 0);
    });
  });

  it('two services share one VIP on different ports, each with its own endpoints and mode', async () => {
    await withTopo({}, async (t) => {
      const ap = new Applier({ run: t.run });
      const admin: DataplaneService = {
        name: 'default/admin',
        addresses: [VIP4],
        ports: [{ port: 81, protocol: 'TCP', targetPort: 8080 }],
        mode: 'fullnat', // no snatAddresses: the endpoint sees the VIP itself
        algorithm: 'hash',
        endpoints: [{ address: t.backends[2]!.v4, weight: 1, state: 'active' }],
      };
      await ap.apply([webService(t, { addresses: [VIP4] }), admin]);
      const w = await httpBatch(t, VIP4, 80, 9);
      assert.deepEqual([...tally(w.replies).values()], [3, 3, 3]);
      for (const r of w.replies) assert.equal(r.split(' ')[1], CLIENT4);
      const a = await httpBatch(t, VIP4, 81, 6);
      assert.equal(a.errors, 0);
      assert.deepEqual(a.replies, Array(6).fill(`b3 ${VIP4}`));
    });
  });

  it('fullnat: endpoints see the SNAT address and need no route back; TCP, UDP, SCTP; IPv4 and IPv6', async () => {
    await withTopo({ backendDefaultRoute: false }, async (t) => {
      const ap = new Applier({ run: t.run });
      const sctp: DataplaneService = {
        name: 'sctp-echo',
        addresses: [VIP4, VIP6],
        ports: [{ port: 7, protocol: 'SCTP', targetPort: 7 }],
        mode: 'fullnat',
        algorithm: 'roundrobin',
        snatAddresses: [LB_BR4, LB_BR6],
        endpoints: eps(t, 46),
      };
      await ap.apply([webService(t, { mode: 'fullnat', snatAddresses: [LB_BR4, LB_BR6] }), sctp]);
      for (const [vip, snat] of [
        [VIP4, LB_BR4],
        [VIP6, LB_BR6],
      ] as const) {
        const b = await httpBatch(t, vip, 80, 9);
        assert.equal(b.errors, 0, `all ${vip} answered without routes back`);
        for (const reply of b.replies) assert.equal(reply.split(' ')[1], snat);
        const u = await udpBatch(t, vip, 53, 9);
        assert.equal(u.errors, 0);
        assert.deepEqual([...tally(u.replies).values()], [3, 3, 3]);
      }
      for (const b of t.backends) t.topo.spawn(b.ns, '/usr/lib/usrsctp/echo_server', []);
      await new Promise((r) => setTimeout(r, 300));
      // usrsctp's client prints the echo; each association goes through the SCTP DNAT+SNAT.
      for (const vip of [VIP4, VIP6])
        for (let i = 0; i < 3; i++) {
          const out = await waitFor(
            `sctp echo via ${vip}`,
            async () => {
              const o = await nsExec(
                t.client,
                'sh',
                ['-c', `echo hello-sctp | timeout 5 /usr/lib/usrsctp/client ${vip} 7`],
                { timeoutMs: 8000 },
              ).catch((e: { stdout?: string }) => e.stdout ?? '');
              return o.includes('hello-sctp') ? o : undefined;
            },
            20_000,
            200,
          );
          assert.match(out, /hello-sctp/);
        }
      const seen = new Set<string>();
      for (const f of ['ipv4', 'ipv6']) {
        const ct = await nsExec(t.lb, 'conntrack', ['-L', '-f', f, '-p', 'sctp']).catch(() => '');
        for (const m of ct.matchAll(/src=(\S+) dst=(?:10\.201\.2\.1|fd01:2::1) /g)) seen.add(m[1]!);
      }
      assert.ok(
        [...seen].some((a) => a.includes(':')),
        `IPv6 SCTP associations NATed: ${[...seen].join(',')}`,
      );
      assert.ok(seen.size >= 4, `SCTP associations spread over endpoints: ${[...seen].join(',')}`);
    });
  });

  it('maglev is consistent across LB instances: the same flow picks the same endpoint on both', async () => {
    await withTopo({}, async (t) => {
      // A second LB on its own client link and on the backends' bridge.
      const lb2 = await t.topo.addNs('lb2');
      await t.topo.link(t.client, ['10.201.3.2/24'], lb2, ['10.201.3.1/24']);
      const { bDev } = await t.topo.link(lb2, ['10.201.2.2/24'], t.lb, []);
      await nsExec(t.lb, 'ip', ['link', 'set', bDev, 'master', 'br0']);
      await nsExec(lb2, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      // The client's flows come from one address whichever LB they cross.
      const src = '10.201.9.9';
      await nsExec(t.client, 'ip', ['addr', 'add', `${src}/32`, 'dev', 'lo']);
      const mg = (order: 1 | -1): DataplaneService => ({
        ...webService(t, { algorithm: 'maglev', addresses: [VIP4] }),
        endpoints: order === 1 ? eps(t, 4) : eps(t, 4).reverse(),
      });
      await new Applier({ run: t.run }).apply([mg(1)]);
      await new Applier({ run: netnsRunner(lb2) }).apply([mg(-1)]);
      const ports = Array.from({ length: 24 }, (_, i) => 41000 + i);
      const send = async () => {
        for (const p of ports)
          await nsExec(t.client, 'sh', [
            '-c',
            `echo x | socat -u - UDP4-DATAGRAM:${VIP4}:53,bind=${src}:${p}`,
          ]);
      };
      const picks = async (ns: string) => {
        const out = await nsExec(ns, 'conntrack', ['-L', '-p', 'udp', '--orig-src', src]);
        return new Map(
          [...out.matchAll(/sport=(\d+) dport=53 (?:\[UNREPLIED\] )?src=(\S+)/g)].map(
            (m) => [Number(m[1]), m[2]!] as const,
          ),
        );
      };
      await send(); // via the first LB (the client's VIP route)
      await nsExec(t.client, 'ip', ['route', 'replace', '10.200.0.0/24', 'via', '10.201.3.1']);
      await send(); // via the second
      const [a, b] = [await picks(t.lb), await picks(lb2)];
      assert.equal(a.size, ports.length);
      assert.deepEqual([...b].sort(), [...a].sort(), 'same endpoint for every flow on both LBs');
      assert.ok(new Set(a.values()).size >= 2, 'flows spread over endpoints');
    });
  });

  it('persist: affinity lasts for the timeout after the last new flow, then the client is re-balanced', async () => {
    await withTopo({}, async (t) => {
      const ap = new Applier({ run: t.run });
      await ap.apply([webService(t, { algorithm: 'persist', persistTimeoutSeconds: 1, addresses: [VIP4] })]);
      const stick = tally((await httpBatch(t, VIP4, 80, 8)).replies);
      assert.equal(stick.size, 1, 'sticky within the timeout');
      const first = [...stick.keys()][0]!;
      await new Promise((r) => setTimeout(r, 2500)); // > 1 s timeout: the affinity entry expires
      const after = tally((await httpBatch(t, VIP4, 80, 4)).replies);
      assert.equal(after.size, 1);
      // The pick behind the affinity is round robin over equal weights: the next slot is another endpoint.
      assert.notEqual([...after.keys()][0], first, 'expired affinity: a new pick');
    });
  });

  it('weighted 1:2:3 within ±5 points; maglev spreads within ±12 points; persist keeps a client on one endpoint', async () => {
    await withTopo({}, async (t) => {
      const ap = new Applier({ run: t.run, maglevTableSize: 251 });
      const weights: Record<string, number> = { b1: 1, b2: 2, b3: 3 };
      const w = (name: string) => ({ weight: weights[name]! });
      await ap.apply([
        webService(t, {
          algorithm: 'weighted',
          endpoints: eps(t, 4, { b1: w('b1'), b2: w('b2'), b3: w('b3') }),
        }),
        {
          ...webService(t, { algorithm: 'maglev', endpoints: eps(t, 4) }),
          name: 'mg',
          addresses: ['10.200.0.11'],
        },
        {
          ...webService(t, { algorithm: 'persist', endpoints: eps(t, 4) }),
          name: 'ps',
          addresses: ['10.200.0.12'],
        },
      ]);
      const n = 120;
      const wb = await httpBatch(t, VIP4, 80, n);
      assert.equal(wb.errors, 0);
      for (const [name, c] of tally(wb.replies))
        assert.ok(Math.abs(c / n - weights[name]! / 6) <= 0.05, `${name}: ${c}/${n}`);
      const mb = await httpBatch(t, '10.200.0.11', 80, 150);
      assert.equal(mb.errors, 0);
      const mt = tally(mb.replies);
      assert.equal(mt.size, 3, 'maglev uses every endpoint');
      for (const [name, c] of mt) assert.ok(Math.abs(c / 150 - 1 / 3) <= 0.12, `${name}: ${c}/150`);
      const pb = await httpBatch(t, '10.200.0.12', 80, 20);
      assert.equal(pb.errors, 0);
      const pt = tally(pb.replies);
      assert.equal(pt.size, 1, `one client, one endpoint: ${[...pt.keys()].join(',')}`);
      // The affinity endpoint goes inactive: the client moves (and stays) elsewhere.
      const first = [...pt.keys()][0]!;
      await ap.apply([
        webService(t, {
          algorithm: 'weighted',
          endpoints: eps(t, 4, { b1: w('b1'), b2: w('b2'), b3: w('b3') }),
        }),
        {
          ...webService(t, { algorithm: 'maglev', endpoints: eps(t, 4) }),
          name: 'mg',
          addresses: ['10.200.0.11'],
        },
        {
          ...webService(t, {
            algorithm: 'persist',
            endpoints: eps(t, 4, { [first]: { state: 'inactive' } }),
          }),
          name: 'ps',
          addresses: ['10.200.0.12'],
        },
      ]);
      const moved = tally((await httpBatch(t, '10.200.0.12', 80, 10)).replies);
      assert.equal(moved.size, 1);
      assert.ok(!moved.has(first));
    });
  });
});
