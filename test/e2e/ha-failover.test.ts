// HA failover with connection-state sync, the whole product: two ferrolb daemons (L2 mode,
// active-backup), a client and a backend on one bridge. The client keeps TCP connections exchanging
// data every 50 ms through a fullNAT service whose SNAT source is the service address (so it moves
// with the owner). SIGKILL the owner and cut its link: every connection continues on the standby,
// no reset, no lost byte (each echo is checked).
//
// NOT PASSING YET, so reported as todo (FERROLB_E2E_HA_FAILOVER=1 makes it count; HA_DEBUG=1 prints the standby's NAT entries
// and the resets captured on the bridge): the standby holds all flows (checked before the kill) but
// answers the first packets after takeover with RST from VIP:80, i.e. the replicated entries are
// not translated there. See docs/ha.md, "Not done yet".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { e2eSkipReason, HOST, nsExec, Topology, waitFor } from '../support/netns.js';
import { api, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import type { ClusterStatus } from '../../src/cluster/status.js';

const skip = e2eSkipReason();
// Runs everywhere (CI included) but is reported as todo until it passes; FERROLB_E2E_HA_FAILOVER=1
// makes a failure count.
const todo = process.env.FERROLB_E2E_HA_FAILOVER
  ? undefined
  : 'not passing yet: the standby resets the replicated flows after takeover (docs/ha.md)';
const NAMES = ['lb1', 'lb2'] as const;
type Name = (typeof NAMES)[number];
const CONNS = Number(process.env.FERROLB_E2E_HA_CONNS ?? 10);
const API_PORT = 11190;

const ECHO = `import socket,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('0.0.0.0',8080)); s.listen(512)
def h(c):
  while True:
    d=c.recv(4096)
    if not d: return
    c.sendall(d)
while True:
  c,_=s.accept(); threading.Thread(target=h,args=(c,),daemon=True).start()`;

// Opens N connections, then every 50 ms sends a numbered line on each and checks its echo, for SECS
// seconds; prints JSON {ok, errors, maxGapMs}. Bounded by SECS.
const CLIENT = (vip: string, n: number, secs: number) => `import socket,time,json,select
cs=[socket.create_connection(('${vip}',80),timeout=5) for _ in range(${n})]
errors=[]; last=time.time(); gap=0; end=time.time()+${secs}; i=0
print('open',flush=True)
while time.time()<end:
  i+=1
  t0=time.time()
  for k,c in enumerate(cs):
    if c is None: continue
    try:
      m=('%d %d\\n'%(k,i)).encode(); c.sendall(m); got=b''
      while len(got)<len(m):
        d=c.recv(len(m)-len(got))
        if not d: raise Exception('closed')
        got+=d
      if got!=m: raise Exception('mismatch %r'%got)
    except Exception as e:
      errors.append('%d: %s'%(k,e)); cs[k]=None
  now=time.time(); gap=max(gap,now-last); last=now
  time.sleep(max(0,0.05-(now-t0)))
print(json.dumps({'ok':sum(1 for c in cs if c),'errors':errors,'maxGapMs':int(gap*1000)}),flush=True)`;

describe('HA failover: connections survive the owner SIGKILL', { skip, timeout: 180_000 }, () => {
  const topo = new Topology();
  const dirs = new Map<Name, ReturnType<typeof tempDir>>();
  const daemons = new Map<Name, Daemon>();
  const ns = new Map<Name | 'client' | 'backend', string>();
  const devs = new Map<Name, string>();
  const procs: ChildProcess[] = [];
  const net = `10.194.${parseInt(topo.id.slice(0, 2), 16)}`;
  const addr = (n: Name) => `${net}.${NAMES.indexOf(n) + 1}`;
  const url = (n: Name) => `http://${addr(n)}:${API_PORT}`;
  const VIP = `${net}.200`;
  const BACKEND = `${net}.60`;
  const key = randomBytes(32).toString('base64');
  const config = (n: Name) => `
apiVersion: ferrolb.io/v1
kind: Cluster
metadata: {name: default}
spec:
  authKeyFile: ${join(dirs.get(n)?.path ?? '', 'cluster.key')}
  heartbeatInterval: 100ms
  nodes:
${NAMES.map((m) => `    - {name: ${m}, address: ${addr(m)}}`).join('\n')}
---
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: l2}
spec: {addresses: ["${VIP}/32"]}
---
apiVersion: ferrolb.io/v1
kind: L2Advertisement
metadata: {name: l2}
spec: {ipAddressPools: [l2]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec:
  addresses: ["${VIP}"]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["${VIP}"]
  endpoints: [{address: ${BACKEND}}]
`;
  const status = async (n: Name) => (await api<ClusterStatus>(url(n), 'GET', '/api/v1/cluster')).body;

  before(async () => {
    const sw = await topo.addNs('sw');
    await nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    const attach = async (end: string | typeof HOST, address: string) => {
      const { aDev, bDev } = await topo.link(end, [`${address}/24`], sw, []);
      await nsExec(sw, 'ip', ['link', 'set', bDev, 'master', 'br0']);
      return { aDev, bDev };
    };
    ns.set('client', await topo.addNs('cl'));
    ns.set('backend', await topo.addNs('be'));
    await attach(ns.get('client') as string, `${net}.50`);
    await attach(ns.get('backend') as string, BACKEND);
    await attach(HOST, `${net}.100`);
    for (const n of NAMES) {
      const s = await topo.addNs(n);
      ns.set(n, s);
      dirs.set(n, tempDir(`ferrolb-ha-${n}-`));
      devs.set(n, (await attach(s, addr(n))).bDev);
    }
    const be = spawn('ip', ['netns', 'exec', ns.get('backend') as string, 'python3', '-c', ECHO], {
      stdio: 'ignore',
    });
    procs.push(be);
    for (const n of NAMES) {
      const dir = dirs.get(n)?.path as string;
      writeFileSync(join(dir, 'cluster.key'), key + '\n');
      writeFileSync(join(dir, 'cfg.yaml'), config(n));
      daemons.set(
        n,
        await startDaemon(
          [
            '--config',
            join(dir, 'cfg.yaml'),
            '--state-dir',
            join(dir, 'state'),
            '--node-name',
            n,
            '--api',
            `${addr(n)}:${API_PORT}`,
            '--insecure-api',
            '--bgp-port',
            'off',
            '--dataplane',
            'on',
          ],
          {},
          30_000,
          ['ip', 'netns', 'exec', ns.get(n) as string],
        ),
      );
    }
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all([...daemons.values()].map((d) => stopDaemon(d, 'SIGKILL')));
    await topo.cleanup();
    for (const d of dirs.values()) d.remove();
  });

  it(
    `${CONNS} TCP connections continue after the owner is killed, no reset, no lost byte`,
    { todo },
    async () => {
      const owner = await waitFor(
        'one owner',
        async () => {
          const sts = await Promise.all(NAMES.map(status));
          const o = sts[0]?.owners.find((x) => x.address === VIP)?.owner;
          return sts.every((s) => s.synced && s.owners.find((x) => x.address === VIP)?.owner === o) && o
            ? (o as Name)
            : undefined;
        },
        30_000,
        100,
      );
      const standby = NAMES.find((n) => n !== owner) as Name;
      const client = spawn(
        'ip',
        ['netns', 'exec', ns.get('client') as string, 'python3', '-c', CLIENT(VIP, CONNS, Number(process.env.HA_SECS ?? 12))],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      procs.push(client);
      let out = '';
      let err = '';
      client.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      client.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      await waitFor('connections open', () => (out.includes('open') ? true : undefined), 10_000);
      await waitFor(
        `the standby holds the ${CONNS} flows`,
        async () => {
          const ct = await nsExec(ns.get(standby) as string, 'conntrack', [
            '-L',
            '-p',
            'tcp',
            '--orig-dst',
            VIP,
          ]).catch(() => '');
          return ct.split('\n').filter((l) => l.includes('dport=80')).length >= CONNS ? true : undefined;
        },
        10_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
      if (process.env.HA_DEBUG) {
        const sb = ns.get(standby) as string;
        for (const f of ['--src-nat', '--dst-nat'])
          process.stdout.write(
            `# ${f} ${(await nsExec(sb, 'conntrack', ['-L', f]).catch((e: Error) => e.message)).split('\n').length - 1} entries\n`,
          );

        process.stdout.write(
          `# logs ${(daemons.get(standby) as Daemon).logs
            .filter((l) => /ha|conntrack/.test(l))
            .slice(-10)
            .join('\n# ')}\n`,
        );
      }
      let rst = '';
      if (process.env.HA_DEBUG) {
        const cap = spawn(
          'ip',
          [
            'netns',
            'exec',
            topo.ns('sw'),
            'timeout',
            '6',
            'tcpdump',
            '-i',
            'br0',
            '-nn',
            '-e',
            '-c',
            '6',
            'tcp[tcpflags] & tcp-rst != 0',
          ],
          { stdio: ['ignore', 'pipe', 'ignore'] },
        );
        cap.stdout?.on('data', (d: Buffer) => (rst += d.toString()));
        procs.push(cap);
        await new Promise((r) => setTimeout(r, 300));
      }
      if (process.env.HA_HOLD) {
        process.stdout.write(`# hold: owner ${ns.get(owner)} standby ${ns.get(standby)} sw ${topo.ns('sw')}\n`);
        await waitFor('hold', () => (require('node:fs').existsSync('/tmp/ha-go') ? true : undefined), 600_000, 500);
      }
      await stopDaemon(daemons.get(owner) as Daemon, 'SIGKILL');
      daemons.delete(owner);
      await nsExec(ns.get(owner) as string, 'ip', ['link', 'set', devs.get(owner) as string, 'down']).catch(
        () => undefined,
      );
      await nsExec(ns.get(owner) as string, 'sh', [
        '-c',
        'for d in $(ls /sys/class/net); do [ $d = lo ] || ip link set $d down; done',
      ]);
      const res = await new Promise<{ ok: number; errors: string[]; maxGapMs: number }>((resolve, reject) => {
        client.on('exit', () => {
          try {
            resolve(
              JSON.parse(
                out
                  .split('\n')
                  .filter((l) => l.startsWith('{'))
                  .pop() ?? '',
              ) as never,
            );
          } catch {
            reject(new Error(`client: ${out} ${err}`));
          }
        });
      });
      if (process.env.HA_DEBUG)
        process.stdout.write(
          `# rst ${rst} macs ${JSON.stringify(await nsExec(ns.get(standby) as string, 'ip', ['-br', 'link']))}\n`,
        );
      if (process.env.HA_HOLD)
        await waitFor('hold2', () => (require('node:fs').existsSync('/tmp/ha-go2') ? true : undefined), 600_000, 500);
      const st = await status(standby);
      assert.equal(st.owners.find((x) => x.address === VIP)?.owner, standby);
      assert.deepEqual(res.errors, []);
      assert.equal(res.ok, CONNS);
      process.stdout.write(`# HA failover: ${CONNS} connections, max gap ${res.maxGapMs} ms\n`);
    },
  );
});
