// The conntrack producer against real kernels: two namespaces (active and standby LB), a producer in
// each (its `conntrack -E` reader and installs inside the namespace), joined by two real
// SyncChannels in-process. A DNAT flow made on the active appears on the standby with the same
// tuples; a flow that existed before the standby joined arrives with the full-state pull; the
// standby's install echo is not sent back; a flow to a port that is no service is not replicated.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { e2eSkipReason, nsExec, Topology, waitFor } from '../support/netns.js';
import { SyncChannel } from '../../src/cluster/sync-channel.js';
import type { FromProducer } from '../../src/cluster/sync-contract.js';
import { CtProducer } from '../../src/dataplane/ct-producer.js';
import { parseCtLine, servicePortKey } from '../../src/dataplane/ct-replica.js';
import { spawnRunner } from '../../src/dataplane/exec.js';

const skip = e2eSkipReason();
const NAT = `table ip flha {
  chain out {
    type nat hook output priority -100;
    ip daddr 10.99.0.1 tcp dport 80 dnat to 127.0.0.1:8080
    ip daddr 10.99.0.1 tcp dport 81 dnat to 127.0.0.1:8081
  }
}
`;
// Opens a connection to 10.99.0.1:PORT and holds it for HOLD seconds (bounded).
const hold = (port: number, target: number, seconds: number) => `import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('127.0.0.1',${target})); s.listen()
c=socket.create_connection(('10.99.0.1',${port}),timeout=5); x,_=s.accept(); c.send(b'x'); x.recv(1); time.sleep(${seconds})`;

describe('conntrack producer over the sync channel', { skip, timeout: 60_000 }, () => {
  it('replicates service flows both by events and by the rejoin pull, without echoes', async () => {
    const topo = new Topology();
    const stops: (() => void)[] = [];
    try {
      const a = await topo.addNs('pa');
      const b = await topo.addNs('pb');
      for (const ns of [a, b]) {
        await nsExec(ns, 'sh', ['-c', `printf '%s' '${NAT}' | nft -f -`]);
        await nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1']);
        await nsExec(ns, 'ip', ['addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
      }
      const services = new Set([servicePortKey('10.99.0.1', 'tcp', 80)]);
      const ch = { a: new SyncChannel(), b: new SyncChannel() };
      const ports = new Map<SyncChannel, MessagePort>();
      const producers: CtProducer[] = [];
      for (const [name, ns] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const { port1, port2 } = new MessageChannel();
        ports.set(ch[name], port1);
        port1.on('message', (m: FromProducer) => ch[name].fromProducer(m));
        const p = new CtProducer({
          port: port2,
          services: () => services,
          run: spawnRunner(['ip', 'netns', 'exec', ns]),
          log: () => undefined,
          spawnEvents: () =>
            spawn(
              'ip',
              ['netns', 'exec', ns, 'conntrack', '-E', '-o', 'extended', '-e', 'NEW,UPDATE,DESTROY'],
              {
                stdio: ['ignore', 'pipe', 'ignore'],
              },
            ),
        });
        p.start();
        producers.push(p);
        stops.push(() => {
          p.stop();
          port1.close();
        });
      }
      // A flow that exists before the two meet: it must come with the pull.
      const early = spawn('ip', ['netns', 'exec', a, 'python3', '-c', hold(80, 8080, 20)], {
        stdio: 'ignore',
      });
      stops.push(() => early.kill('SIGKILL'));
      await new Promise((r) => setTimeout(r, 500));
      const pump = setInterval(() => {
        const t = performance.now();
        for (const [me, other, oname, mname] of [
          [ch.a, ch.b, 'b', 'a'],
          [ch.b, ch.a, 'a', 'b'],
        ] as const) {
          for (const s of me.tick(t))
            for (const r of other.receive(mname, s.type, s.body, t)) me.receive(oname, r.type, r.body, t);
          for (const { msg } of me.drainProducerMessages()) ports.get(me)?.postMessage(msg);
        }
      }, 10);
      stops.push(() => clearInterval(pump));
      ch.a.peerUp('b', performance.now());
      ch.b.peerUp('a', performance.now());
      const listB = async () =>
        (await nsExec(b, 'conntrack', ['-L', '-o', 'extended', '-p', 'tcp']).catch(() => ''))
          .split('\n')
          .map(parseCtLine)
          .filter((e) => e !== undefined)
          .map((e) => e.flow);
      await waitFor('b synced from a', () => (ch.b.ready(['a']) ? true : undefined), 10_000);
      const pulled = await waitFor('the early flow on b', async () => {
        const f = (await listB()).filter((x) => x.orig.dport === 80);
        return f.length === 1 ? f[0] : undefined;
      });
      assert.deepEqual(pulled.reply.src, '127.0.0.1');
      assert.equal(pulled.reply.sport, 8080);
      // A new flow after the join comes by events; one to port 81 (no service) does not.
      const late = spawn('ip', ['netns', 'exec', a, 'python3', '-c', hold(80, 8090, 20)], {
        stdio: 'ignore',
      });
      stops.push(() => late.kill('SIGKILL'));
      const other = spawn('ip', ['netns', 'exec', a, 'python3', '-c', hold(81, 8081, 20)], {
        stdio: 'ignore',
      });
      stops.push(() => other.kill('SIGKILL'));
      await waitFor('two service flows on b', async () =>
        (await listB()).filter((x) => x.orig.dport === 80).length === 2 ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(
        (await listB()).filter((x) => x.orig.dport === 81).length,
        0,
        'no service, not replicated',
      );
      const [pa, pb] = producers;
      assert.ok((pb?.counters.installed ?? 0) >= 2);
      assert.equal(pb?.counters.published, 0, "the standby's installs are echoes, not sent back");
      assert.ok((pb?.counters.echoes ?? 0) >= 1);
      assert.ok((pa?.counters.published ?? 0) >= 1);
    } finally {
      for (const s of stops.reverse()) s();
      await topo.cleanup();
    }
  });
});
