// Demo act: a multihomed SCTP association (N2-like: a client with two links, a service with a
// primary and two secondary addresses) through `ferrolb run`, surviving the cut of its primary path.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsExec, Topology, waitFor } from '../../test/support/netns.js';
import { startDaemon, stopDaemon, tempDir, type Daemon } from '../../test/support/daemon.js';
import { buildSctpBed, collect, multihomedConfig, SCTP_V4, USRSCTP } from '../../test/support/sctp.js';
import { ctlIn, step } from './show.js';

const P = SCTP_V4;
const CONFIG = multihomedConfig(P, 'amf-n2');

export async function sctpAct(): Promise<void> {
  const topo = new Topology();
  const dir = tempDir('ferrolb-demo-sctp-');
  let d: Daemon | undefined;
  try {
    step(
      `SCTP multihoming: client links ${P.client.join(' and ')} ── LB ── endpoint ${P.endpoint} (usrsctp echo)`,
    );
    const bed = await buildSctpBed(topo, P);
    writeFileSync(join(dir.path, 'n2.yaml'), CONFIG);
    d = await startDaemon(
      ['--config', join(dir.path, 'n2.yaml'), '--state-dir', dir.path, '--dataplane', 'on', '--probes', 'on'],
      {},
      20_000,
      ['ip', 'netns', 'exec', bed.lb],
    );
    topo.spawn(bed.b, `${USRSCTP}/echo_server`, []);
    await new Promise((r) => setTimeout(r, 500)); // echo_server has no readiness signal
    const client = topo.spawn(bed.c, `${USRSCTP}/client`, [P.vips[0], '7']);
    const out = collect(client);
    let n = 0;
    const send = async (label: string, count: number) => {
      const lines = Array.from({ length: count }, () => `${label}-${n++}`);
      for (const l of lines) client.stdin?.write(`${l}\n`);
      const t0 = Date.now();
      await waitFor(
        `echo of ${label}`,
        () => (lines.every((l) => out.text().includes(l)) ? true : undefined),
        60_000,
      );
      console.log(`${count} messages "${label}" echoed in ${Date.now() - t0} ms`);
    };
    await send('before-cut', 3);
    ctlIn(bed.lb, d, ['get', 'sctp']);
    console.log(`cutting the primary path (LB side of ${P.client[0]} ↔ ${P.lbSide[0]} down)`);
    await nsExec(bed.lb, 'ip', ['link', 'set', bed.lbDevs[0], 'down']);
    await send('after-cut', 3);
    console.log('the association survived: the client moved to the secondary service address');
    await nsExec(bed.lb, 'ip', ['link', 'set', bed.lbDevs[0], 'up']);
    client.stdin?.end();
    await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 60_000);
  } finally {
    if (d) await stopDaemon(d);
    await topo.cleanup();
    console.log(`namespaces fl${topo.id}* removed`);
    dir.remove();
  }
}
