// Restart = adopt, end to end: `ferrolb run` carries a multihomed usrsctp association (two client
// links, three VIPs) in an LB namespace; the daemon is killed with SIGKILL mid-stream and started
// again. Lines keep flowing through the kernel fast path while it is away, the restarted daemon
// rebuilds the association from the kernel (no flush), every line is echoed (none lost, the client
// never reports COMM_LOST), a path cut after the restart still fails over, and the clean shutdown is
// handled by the adopted association (the table empties). IPv4 and IPv6.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import {
  buildSctpBed,
  echoClient,
  sctpSkipReason,
  USRSCTP,
  type SctpPlan,
  multihomedConfig,
} from '../support/sctp.js';
import type { AssociationView } from '../../src/sctp/index.js';

const skip = sctpSkipReason();

const PLANS: SctpPlan[] = [
  {
    family: 4,
    client: ['10.204.1.2', '10.204.3.2'],
    lbSide: ['10.204.1.1', '10.204.3.1', '10.204.2.1'],
    endpoint: '10.204.2.2',
    vips: ['10.204.9.1', '10.204.9.2', '10.204.9.3'],
    vipNet: '10.204.9.0/24',
    plen: 24,
  },
  {
    family: 6,
    client: ['fd04:1::2', 'fd04:3::2'],
    lbSide: ['fd04:1::1', 'fd04:3::1', 'fd04:2::1'],
    endpoint: 'fd04:2::2',
    vips: ['fd04:9::1', 'fd04:9::2', 'fd04:9::3'],
    vipNet: 'fd04:9::/64',
    plen: 64,
  },
];

const config = (p: SctpPlan) => multihomedConfig(p, 'echo');

interface SctpStatus {
  running: boolean;
  associations: AssociationView[];
  adopted?: { associations: number; kept: number; added: number; stray: number };
  stats?: { dropped: Record<string, number> };
}

for (const plan of PLANS)
  describe(`sctp restart = adopt (IPv${plan.family})`, { skip, timeout: 240_000 }, () => {
    const topo = new Topology();
    const dir = tempDir('ferrolb-sctp-restart-');
    let daemon: Daemon | undefined;
    let cNs = '';
    let lbNs = '';
    let bNs = '';
    let lbDev0 = '';
    const args = () => [
      ...['--config', join(dir.path, 'cfg.yaml'), '--state-dir', dir.path],
      ...['--dataplane', 'on', '--probes', 'off', '--keep-forwarding'],
    ];
    const start = async () => (daemon = await startDaemon(args(), {}, 30_000, ['ip', 'netns', 'exec', lbNs]));
    const ctl = (a: string[]) =>
      nsExec(lbNs, process.execPath, [FERROCTL, '--server', (daemon as Daemon).url, ...a], {
        timeoutMs: 20_000,
      });
    const running = (): Daemon => {
      if (!daemon) throw new Error('no daemon running');
      return daemon;
    };
    const status = async () => JSON.parse(await ctl(['get', 'sctp', '-o', 'json'])) as SctpStatus;

    before(async () => {
      let lbDevs: readonly string[];
      ({ c: cNs, lb: lbNs, b: bNs, lbDevs } = await buildSctpBed(topo, plan));
      lbDev0 = lbDevs[0] as string;
      writeFileSync(join(dir.path, 'cfg.yaml'), config(plan));
      await start();
      topo.spawn(bNs, `${USRSCTP}/echo_server`, []);
      await new Promise((r) => setTimeout(r, 800)); // echo_server has no readiness signal
    });

    after(async () => {
      if (daemon) await stopDaemon(daemon, 'SIGKILL').catch(() => undefined);
      await topo.cleanup();
      dir.remove();
    });

    it('kill -9 and restart lose no message; a path cut after the restart still fails over', async () => {
      const { client, out, sent, send, echoed } = echoClient(topo, cNs, plan.vips[0]);
      await echoed([send('before'), send('before'), send('before')], 'echo before the restart');
      const up = await status();
      assert.equal(up.associations.length, 1, JSON.stringify(up));
      const id = up.associations[0]?.id;

      // SIGKILL: no teardown at all. Lines sent while the daemon is away ride the kernel fast path.
      const d = daemon as Daemon;
      await stopDaemon(d, 'SIGKILL');
      daemon = undefined;
      const away: string[] = [];
      for (let i = 0; i < 5; i++) {
        away.push(send('away'));
        await new Promise((r) => setTimeout(r, 200));
      }
      await echoed(away, 'echo while the daemon is dead', 20_000);

      // Restart: the association is adopted from the kernel, not flushed.
      await start();
      const st = await status();
      assert.equal(st.running, true, JSON.stringify(st));
      assert.equal(st.associations.length, 1, JSON.stringify(st));
      assert.equal(st.adopted?.associations, 1, JSON.stringify(st.adopted));
      const a = st.associations[0] as AssociationView;
      assert.equal(a.id, id, 'the same association (id from the kernel)');
      assert.equal(a.state, 'established');
      assert.deepEqual([...a.clientAddresses].sort(), [...plan.client].sort());
      assert.deepEqual([...a.serviceAddresses].sort(), [...plan.vips].sort());
      assert.deepEqual(a.endpoint, [plan.endpoint]);
      const lines = [send('after'), send('after'), send('after')];
      await echoed(lines, 'echo after the restart');

      // A path cut after the restart fails over (the adopted association re-points its return paths).
      await nsExec(lbNs, 'ip', ['link', 'set', lbDev0, 'down']);
      const cut = [send('cut'), send('cut'), send('cut')];
      await echoed(cut, 'echo across the cut after the restart');
      await nsExec(lbNs, 'ip', ['link', 'set', lbDev0, 'up']);
      await echoed([send('restored')], 'echo after the link came back');

      // An upgrade right after the link's return: SIGTERM with --keep-forwarding leaves the SCTP path
      // in the kernel and the next start adopts the association again. The client is moving back to
      // its primary path at this moment; the stop must leave the kernel with the mapping it needs.
      assert.equal((await stopDaemon(running(), 'SIGTERM')).code, 0);
      daemon = undefined;
      const upgrade = [send('upgrade'), send('upgrade')];
      await echoed(upgrade, 'echo while the daemon is stopped (--keep-forwarding)', 20_000);
      await start();
      assert.equal((await status()).adopted?.associations, 1);
      await echoed([send('upgraded')], 'echo after the upgrade');

      client.stdin?.end();
      await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 90_000);
      const text = out.text();
      assert.ok(!/COMM_LOST/.test(text), `the client lost its association:\n${text.slice(-2000)}`);
      assert.match(text, /SCTP_SHUTDOWN_COMP/);
      for (const l of sent) assert.ok(text.includes(l), `${l} was never echoed`);
      // The adopted association saw the shutdown through the engine and is gone.
      await waitFor(
        'association table empty',
        async () => ((await status()).associations.length === 0 ? true : undefined),
        20_000,
        250,
      );
      const final = await status();
      assert.equal(final.stats?.dropped['no-association'] ?? 0, 0, JSON.stringify(final.stats));

      // Stopped with --keep-forwarding and started without the service: nothing would ever adopt or
      // remove the SCTP path, so the start removes it.
      assert.equal((await stopDaemon(running(), 'SIGTERM')).code, 0);
      daemon = undefined;
      assert.match(await nsExec(lbNs, 'nft', ['list', 'tables']), /ferrolb_sctp/);
      writeFileSync(join(dir.path, 'cfg.yaml'), config(plan).split('---')[0] as string);
      await start();
      await waitFor(
        'leftover SCTP path removed',
        async () => (/ferrolb_sctp/.test(await nsExec(lbNs, 'nft', ['list', 'tables'])) ? undefined : true),
        20_000,
        250,
      );
      const mangle = await nsExec(lbNs, plan.family === 4 ? 'iptables' : 'ip6tables', ['-t', 'mangle', '-S']);
      assert.ok(!/FERROLB-SCTP|NFQUEUE/.test(mangle), mangle);
      writeFileSync(join(dir.path, 'cfg.yaml'), config(plan));
    });
  });
