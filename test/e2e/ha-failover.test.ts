// HA failover with connection-state sync, the whole product (issue 12): two ferrolb daemons (L2
// mode, active-backup), a client and a backend on one bridge (bench/l2.ts's Bed). The client keeps
// 100 TCP connections exchanging a numbered line every 50 ms (20 of them opened less than 1 s before
// the failure) and a UDP flow, through a fullNAT service whose SNAT source is the service address (so
// it moves with the owner). The owner's link is cut and it is SIGKILLed: every connection continues
// on the standby — no reset, every echo checked byte for byte — and the UDP flow goes on. Then the
// killed node comes back: it pulls the state, owns nothing before it is synced, and when the other
// node is killed in turn, the same connections continue on it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { FERROCTL, startClusterNode, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import type { CtView } from '../../src/cluster/ct-view.js';
import { Bed } from '../../bench/l2.js';
import type { ClusterStatus } from '../../src/cluster/status.js';

const skip = e2eSkipReason();
type Name = string;
const OLD = Number(process.env.FERROLB_E2E_HA_CONNS ?? 80);
const YOUNG = 20;
const API_PORT = 11190;

// TCP echo on 8080 and UDP echo on 5000 (backend).
const ECHO = `import socket,threading
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(('0.0.0.0',5000))
def ue():
  while True:
    d,a=u.recvfrom(2048); u.sendto(d,a)
threading.Thread(target=ue,daemon=True).start()
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('0.0.0.0',8080)); s.listen(512)
def h(c):
  while True:
    d=c.recv(4096)
    if not d: return
    c.sendall(d)
while True:
  c,_=s.accept(); threading.Thread(target=h,args=(c,),daemon=True).start()`;

// Opens OLD connections, then every 50 ms sends a numbered line on each and checks its echo, and one
// UDP datagram. On stdin: "young" opens YOUNG more, "stop" ends it. Prints "open", "young", a line
// "r <round>" every 10 rounds, and at the end JSON. Bounded: 150 s at most.
const CLIENT = (vip: string) => `import socket,time,json,select,sys
def conn():
  c=socket.create_connection(('${vip}',80),timeout=10); c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1); return c
cs=[conn() for _ in range(${OLD})]
u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.connect(('${vip}',5000)); u.setblocking(False)
usent=0; urecv=0; ulast=None; ugap=0; echoed=0
errors=[]; last=time.time(); gap=0; i=0; end=time.time()+150
print('open',flush=True)
while time.time()<end:
  if select.select([sys.stdin],[],[],0)[0]:
    cmd=sys.stdin.readline().strip()
    if cmd=='young':
      cs+=[conn() for _ in range(${YOUNG})]; print('young',flush=True)
    else: break
  i+=1; t0=time.time()
  for k,c in enumerate(cs):
    if c is None: continue
    try:
      m=('%d %d\\n'%(k,i)).encode(); c.sendall(m); got=b''
      while len(got)<len(m):
        d=c.recv(len(m)-len(got))
        if not d: raise Exception('closed')
        got+=d
      if got!=m: raise Exception('mismatch %r'%got)
      echoed+=len(m)
    except Exception as e:
      errors.append('%d: %s'%(k,e)); cs[k]=None
  try:
    u.send(b'%d'%i); usent+=1
  except OSError: pass
  while True:
    try: u.recv(64)
    except (BlockingIOError,ConnectionRefusedError): break
    now=time.time(); urecv+=1
    if ulast is not None: ugap=max(ugap,now-ulast)
    ulast=now
  now=time.time(); gap=max(gap,now-last); last=now
  if i%10==0: print('r %d'%i,flush=True)
  time.sleep(max(0,0.05-(now-t0)))
print(json.dumps({'ok':sum(1 for c in cs if c),'errors':errors,'maxGapMs':int(gap*1000),'echoed':echoed,
  'udpSent':usent,'udpReceived':urecv,'udpMaxGapMs':int(ugap*1000),'rounds':i}),flush=True)`;

interface Result {
  ok: number;
  errors: string[];
  maxGapMs: number;
  echoed: number;
  udpSent: number;
  udpReceived: number;
  udpMaxGapMs: number;
  rounds: number;
}

failoverSuite(['lb1', 'lb2']);
failoverSuite(['lb1', 'lb2', 'lb3']);

function failoverSuite(NAMES: readonly Name[]): void {
  describe(
    `HA failover, ${NAMES.length} nodes: connections survive the owner SIGKILL`,
    { skip, timeout: 240_000 },
    () => {
      const bed = new Bed(NAMES);
      const dirs = new Map<Name, ReturnType<typeof tempDir>>();
      const daemons = new Map<Name, Daemon>();
      const procs: ChildProcess[] = [];
      const key = randomBytes(32).toString('base64');
      let vip = '';

      const status = (n: Name) => bed.get<ClusterStatus>(n, API_PORT, '/api/v1/cluster');
      const start = async (n: Name) => {
        const dir = dirs.get(n)!.path;
        daemons.set(
          n,
          await startClusterNode(bed.lb.get(n)!.ns, dir, n, `${bed.lb.get(n)!.addr}:${API_PORT}`),
        );
      };
      const flowsOn = async (n: Name) =>
        (await nsExec(bed.lb.get(n)!.ns, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', vip]).catch(() => ''))
          .split('\n')
          .filter((l) => l.includes('dport=80 ') && l.includes('ESTABLISHED')).length;
      /** The node dies: its link goes down, then its process is SIGKILLed (bench/l2.ts does the same). */
      const kill = async (n: Name) => {
        const lb = bed.lb.get(n)!;
        await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'down']);
        await stopDaemon(daemons.get(n)!, 'SIGKILL');
        daemons.delete(n);
      };

      before(async () => {
        await bed.build();
        vip = `${bed.net}.200`;
        // Two endpoints (one server on both addresses): a flow the standby did not hold would be
        // balanced afresh there, half of them to the other address, which resets it.
        await nsExec(bed.backend, 'ip', ['addr', 'add', `${bed.net}.51/32`, 'dev', 'lo']);
        procs.push(bed.t.spawn(bed.backend, 'python3', ['-c', ECHO]));
        const spec = `{addresses: ["${vip}"], mode: fullnat, snatAddresses: ["${vip}"], ports: [{port: 80, protocol: TCP, targetPort: 8080}, {port: 5000, protocol: UDP, targetPort: 5000}], endpoints: [{address: ${bed.net}.50}, {address: ${bed.net}.51}]}`;
        for (const n of NAMES) {
          const dir = tempDir(`ferrolb-ha-${n}-`);
          dirs.set(n, dir);
          writeFileSync(join(dir.path, 'key'), key + '\n');
          writeFileSync(
            join(dir.path, 'cfg.yaml'),
            bed.clusterConfig('ha', join(dir.path, 'key'), 100, vip, spec),
          );
        }
        await Promise.all(NAMES.map(start));
      });

      after(async () => {
        for (const p of procs) p.kill('SIGKILL');
        await Promise.all([...daemons.values()].map((d) => stopDaemon(d, 'SIGKILL')));
        await bed.t.cleanup();
        for (const d of dirs.values()) d.remove();
      });

      /** The owner every node of `live` names, once all of them are synced and see each other alive. */
      const agreed = (what: string, live: readonly Name[]) =>
        waitFor(
          what,
          async () => {
            const sts = await Promise.all(live.map(status));
            const o = sts[0]?.owners.find((x) => x.address === vip)?.owner;
            return sts.every(
              (s) =>
                s?.synced &&
                s.quorum?.alive === live.length &&
                s.owners.find((x) => x.address === vip)?.owner === o,
            ) && o
              ? o
              : undefined;
          },
          60_000,
          100,
        );

      it(`${OLD + YOUNG} TCP connections and a UDP flow continue through two failovers and a rejoin`, async () => {
        const owner = await agreed('one owner, every node synced', NAMES);
        const standbys = NAMES.filter((n) => n !== owner);
        const standby = standbys[0]!;
        assert.equal(
          (
            await nsExec(bed.lb.get(standby)!.ns, 'sysctl', [
              '-n',
              'net.netfilter.nf_conntrack_tcp_be_liberal',
            ])
          ).trim(),
          '1',
          'ferrolb sets be_liberal where it may take flows over (docs/ha.md)',
        );
        const client = bed.t.spawn(bed.client, 'python3', ['-c', CLIENT(vip)]);
        procs.push(client);
        const lines: string[] = [];
        let err = '';
        createInterface({ input: client.stdout! }).on('line', (l) => lines.push(l));
        client.stderr?.on('data', (d: Buffer) => (err += d.toString()));
        const round = () =>
          Number(
            lines
              .filter((l) => l.startsWith('r '))
              .pop()
              ?.slice(2) ?? 0,
          );
        /** The client made `n` more rounds (every connection echoed) — bounded. */
        const progress = async (what: string, n: number) => {
          const r0 = round();
          await waitFor(what, () => (round() >= r0 + n ? true : undefined), 30_000, 50).catch((e: Error) => {
            throw new Error(`${e.message}; client: ${lines.slice(-3).join(' | ')} ${err}`);
          });
        };
        await waitFor('connections open', () => (lines.includes('open') ? true : undefined), 20_000);
        await waitFor(
          `every standby holds the ${OLD} flows`,
          async () => ((await Promise.all(standbys.map(flowsOn))).every((c) => c >= OLD) ? true : undefined),
          20_000,
          100,
        ).catch(async (e: Error) => {
          const states = async (n: Name) =>
            (
              await nsExec(bed.lb.get(n)!.ns, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', vip]).catch(
                () => '',
              )
            )
              .split('\n')
              .map((l) => /^tcp\s+\d+\s+\d+\s+(\S+)/.exec(l)?.[1])
              .filter(Boolean)
              .join(',');
          const m = async (n: Name) =>
            (
              await nsExec(bed.client, 'curl', [
                '-sf',
                `http://${bed.lb.get(n)!.addr}:${API_PORT}/metrics`,
              ]).catch(() => '')
            )
              .split('\n')
              .filter((l) => /^ferrolb_(ct_sync|sync_records)/.test(l))
              .join(' ');
          throw new Error(
            `${e.message}: standby ${await states(standby)} | ${await m(standby)} || owner ${await m(owner)} | ${daemons
              .get(standby)!
              .logs.filter((l) => /"warn"/.test(l))
              .slice(-3)
              .join(' ')}`,
          );
        });
        // What the standby holds, as an operator sees it: ferroctl get ct, the producer and lag metrics.
        const url = `http://${bed.lb.get(standby)!.addr}:${API_PORT}`;
        const ct = JSON.parse(
          await nsExec(bed.client, process.execPath, [FERROCTL, '--server', url, 'get', 'ct', '-o', 'json']),
        ) as CtView;
        const replicas = ct.items.filter((e) => e.origin === 'replica' && e.service === `${vip}:80`);
        assert.ok(replicas.length >= OLD, JSON.stringify(ct).slice(0, 500));
        for (const e of replicas) {
          assert.match(e.endpoint, new RegExp(`^${bed.net.replace(/\./g, '\\.')}\\.5[01]:8080$`));
          assert.equal(e.source.split(':')[0], vip, 'fullNAT source: the service address');
        }
        const table = await nsExec(bed.client, process.execPath, [FERROCTL, '--server', url, 'get', 'ct']);
        assert.match(table, /PROTO\s+CLIENT\s+SERVICE\s+ENDPOINT\s+SOURCE\s+STATE\s+TIMEOUT\s+ORIGIN/);
        const metrics = await nsExec(bed.client, 'curl', ['-sf', '--max-time', '2', `${url}/metrics`]);
        const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
        assert.ok(metric('ferrolb_ct_sync_installed_total') >= OLD, metrics.slice(0, 300));
        assert.equal(metric('ferrolb_ct_sync_install_failures_total'), 0);
        const ownerMetrics = await nsExec(bed.client, 'curl', [
          '-sf',
          '--max-time',
          '2',
          `http://${bed.lb.get(owner)!.addr}:${API_PORT}/metrics`,
        ]);
        const lag = Number(/^ferrolb_sync_lag_seconds (\S+)$/m.exec(ownerMetrics)?.[1]);
        assert.ok(lag >= 0 && lag < 1, `sync lag p99 ${lag} s (sub-second)`);
        await progress('rounds before the young connections', 10);
        client.stdin!.write('young\n');
        await waitFor(
          'young connections open',
          () => (lines.includes('young') ? true : undefined),
          10_000,
          10,
        );
        // The failure comes less than 1 s after the young connections opened.
        await new Promise((r) => setTimeout(r, 500));
        await kill(owner);
        await progress('rounds after the first failover', 40);
        const second = await agreed('a new owner among the live nodes', standbys);

        // The killed node returns: it pulls the state and owns nothing before it is synced.
        const lb = bed.lb.get(owner)!;
        await nsExec(lb.ns, 'ip', ['link', 'set', lb.dev, 'up']);
        const unsyncedOwning: string[] = [];
        let watching = true;
        const watch = (async () => {
          while (watching) {
            const s = await status(owner);
            if (s && !s.synced && s.owned > 0) unsyncedOwning.push(JSON.stringify(s.owners));
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        await start(owner);
        await waitFor(
          'the returning node synced',
          async () => ((await status(owner))?.synced ? true : undefined),
          30_000,
          100,
        );
        watching = false;
        await watch;
        assert.deepEqual(unsyncedOwning, [], 'a returning node owns nothing before it is synced');
        await waitFor(
          `the returning node holds the ${OLD + YOUNG} flows`,
          async () => ((await flowsOn(owner)) >= OLD + YOUNG ? true : undefined),
          20_000,
          100,
        );
        assert.equal(
          (await status(second))?.owners.find((x) => x.address === vip)?.owner,
          second,
          'no move back',
        );
        await progress('rounds before the second failover', 10);
        await kill(second);
        await progress('rounds after the second failover', 40);
        const third = await agreed(
          'a new owner after the second failover',
          NAMES.filter((n) => n !== second),
        );
        client.stdin!.write('stop\n');
        await new Promise((r) => client.once('exit', r));
        const json = lines.filter((l) => l.startsWith('{')).pop();
        assert.ok(json, `client: ${lines.slice(-3).join(' | ')} ${err}`);
        const res = JSON.parse(json) as Result;
        assert.deepEqual(res.errors, []);
        assert.equal(res.ok, OLD + YOUNG);
        assert.equal(res.udpSent - res.udpReceived <= res.udpSent / 4, true, `UDP: ${JSON.stringify(res)}`);
        assert.notEqual(third, second);
        process.stdout.write(
          `# ${NAMES.length} nodes, owners ${owner} → ${second} → ${third}\n# sync lag p99 on the first owner: ${Math.round(lag * 1000)} ms\n# HA failover: ${res.ok} TCP connections, ${res.echoed} bytes echoed, max gap ${res.maxGapMs} ms; ` +
            `UDP ${res.udpReceived}/${res.udpSent} answered, max gap ${res.udpMaxGapMs} ms; ${res.rounds} rounds\n`,
        );
      });
    },
  );
}
