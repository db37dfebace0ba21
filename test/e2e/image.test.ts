// The OCI image, built by scripts/build-image.sh from Debian packages and run for real: its rootfs
// (unpacked with umoci) runs its own Node and app in the LB namespace of an SCTP test bed. The daemon
// in the image carries a multihomed SCTP association with an SCTP health check (NFQUEUE addon, nft,
// iptables and the probe's helper all come from the image), and without the addon `/readyz` says
// why instead of claiming ready.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsExec, Topology, waitFor } from '../support/netns.js';
import { FERROCTL, REPO, startDaemon, stopDaemon, tempDir, type Daemon } from '../support/daemon.js';
import {
  buildSctpBed,
  collect,
  multihomedConfig,
  sctpSkipReason,
  USRSCTP,
  type SctpPlan,
} from '../support/sctp.js';
import type { AssociationView } from '../../src/sctp/index.js';

const skip = sctpSkipReason(['mmdebstrap', 'umoci']);
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const OUT = join(REPO, 'build/image'); // the Debian rootfs is cached there between runs

const PLAN: SctpPlan = {
  family: 4,
  client: ['10.207.1.2', '10.207.3.2'],
  lbSide: ['10.207.1.1', '10.207.3.1', '10.207.2.1'],
  endpoint: '10.207.2.2',
  vips: ['10.207.9.1', '10.207.9.2', '10.207.9.3'],
  vipNet: '10.207.9.0/24',
  plen: 24,
};

const CONFIG = multihomedConfig(PLAN, 'n2', 7, 'healthCheck: {type: sctp, interval: 500ms, timeout: 400ms}');

let topo: Topology;
let dir: { path: string; remove: () => void };
let root = '';
let daemon: Daemon | undefined;
let lbNs = '';
let cNs = '';
let bNs = '';

/**
 * `startDaemon` runs `PREFIX... node ferrolb.js run ARGS`; this prefix drops the host's node and
 * script and runs the image's instead, chrooted into its rootfs with its own /proc, /sys and /dev
 * (mounted in the namespace's private mount table: gone when the daemon exits).
 */
function imagePrefix(): string[] {
  const wrapper = join(dir.path, 'in-image');
  writeFileSync(
    wrapper,
    `#!/bin/sh
set -e
R=${root}
shift 2
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount --rbind /dev "$R/dev"
exec chroot "$R" /usr/bin/tini -s -- /usr/local/bin/node /app/bin/ferrolb.js "$@"
`,
  );
  chmodSync(wrapper, 0o755);
  return ['ip', 'netns', 'exec', lbNs, wrapper];
}

const start = () =>
  startDaemon(
    ['--config', '/test/cfg.yaml', '--state-dir', '/test/state', '--dataplane', 'on', '--probes', 'on'],
    {},
    30_000,
    imagePrefix(),
  );

async function ctl(args: string[]): Promise<string> {
  return nsExec(lbNs, process.execPath, [FERROCTL, '--server', (daemon as Daemon).url, ...args], {
    timeoutMs: 20_000,
  });
}

async function readyz(): Promise<{ status: number; body: string }> {
  const out = await nsExec(lbNs, process.execPath, [
    '-e',
    `fetch(${JSON.stringify(new URL('/readyz', (daemon as Daemon).url).href)}).then(async (r) => console.log(r.status, await r.text()))`,
  ]);
  const [status, ...rest] = out.trim().split(' ');
  return { status: Number(status), body: rest.join(' ') };
}

before(async () => {
  if (skip) return;
  execFileSync('bash', [join(REPO, 'scripts/build-image.sh'), OUT], { stdio: 'inherit', timeout: 900_000 });
  dir = tempDir('ferrolb-image-');
  root = join(dir.path, 'rootfs');
  // The image as a runtime would see it: its layers unpacked from the OCI layout.
  execFileSync('umoci', ['raw', 'unpack', '--image', `${join(OUT, 'oci')}:${VERSION}`, root], {
    timeout: 300_000,
  });
  mkdirSync(join(root, 'test'), { recursive: true });
  writeFileSync(join(root, 'test/cfg.yaml'), CONFIG);
  topo = new Topology();
  ({ c: cNs, lb: lbNs, b: bNs } = await buildSctpBed(topo, PLAN));
  topo.spawn(bNs, `${USRSCTP}/echo_server`, []);
});

after(async () => {
  if (daemon) await stopDaemon(daemon, 'SIGTERM').catch(() => undefined);
  await topo?.cleanup();
  dir?.remove();
});

test('the image declares its entrypoint, and brings its own node, addon and kernel tools', { skip }, () => {
  const index = JSON.parse(readFileSync(join(OUT, 'oci/index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const m = index.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === VERSION);
  assert.ok(m, JSON.stringify(index));
  const blob = (d: string) => readFileSync(join(OUT, 'oci/blobs', ...d.split(':')), 'utf8');
  const manifest = JSON.parse(blob(m.digest)) as { config: { digest: string } };
  const config = JSON.parse(blob(manifest.config.digest)) as { config: { Entrypoint: string[] } };
  assert.deepEqual(config.config.Entrypoint, [
    '/usr/bin/tini',
    '--',
    '/usr/local/bin/node',
    '/app/bin/ferrolb.js',
  ]);
  for (const f of [
    'usr/local/bin/node',
    'app/native/build/Release/ferrolb_nfqueue.node',
    'usr/sbin/nft',
    'usr/sbin/iptables',
    'usr/bin/socat',
    'sbin/ip',
  ])
    assert.ok(existsSync(join(root, f)), `${f} missing from the image`);
  const version = execFileSync('chroot', [root, '/usr/local/bin/node', '/app/bin/ferrolb.js', 'version'], {
    encoding: 'utf8',
  });
  assert.equal(version.trim(), VERSION);
});

test(
  'the daemon in the image carries a multihomed SCTP association with an SCTP health check',
  { skip, timeout: 180_000 },
  async () => {
    daemon = await start();
    await waitFor('ready', async () => ((await readyz()).status === 200 ? true : undefined), 30_000);
    // The SCTP probe (from the image) finds the endpoint up.
    await waitFor(
      'endpoint active by the SCTP check',
      async () => {
        const v = JSON.parse(await ctl(['describe', 'lb', 'n2', '-o', 'json'])) as {
          endpoints: { state: string }[];
        };
        return v.endpoints.every((e) => e.state === 'active') ? true : undefined;
      },
      20_000,
    );
    const client = topo.spawn(cNs, `${USRSCTP}/client`, [PLAN.vips[0], '7']);
    const out = collect(client);
    for (const l of ['hello-image-1', 'hello-image-2']) client.stdin?.write(`${l}\n`);
    await waitFor(
      'echo through the image',
      () => (out.text().includes('hello-image-2') ? true : undefined),
      30_000,
    );
    const st = JSON.parse(await ctl(['get', 'sctp', '-o', 'json'])) as {
      running: boolean;
      associations: AssociationView[];
    };
    assert.equal(st.running, true);
    const a = st.associations[0];
    assert.equal(a?.state, 'established');
    assert.deepEqual([...(a?.clientAddresses ?? [])].sort(), [...PLAN.client].sort());
    assert.deepEqual([...(a?.serviceAddresses ?? [])].sort(), [...PLAN.vips].sort());
    client.kill('SIGKILL');
    await stopDaemon(daemon, 'SIGTERM');
    daemon = undefined;
  },
);

test(
  'an image without the NFQUEUE addon is not ready, and says why',
  { skip, timeout: 120_000 },
  async () => {
    const addon = join(root, 'app/native/build/Release/ferrolb_nfqueue.node');
    renameSync(addon, `${addon}.gone`);
    try {
      daemon = await start();
      const r = await waitFor(
        'not ready',
        async () => {
          const x = await readyz();
          return x.status === 503 && /sctp/i.test(x.body) ? x : undefined;
        },
        20_000,
      );
      assert.match(r.body, /addon|ferrolb_nfqueue/i, r.body);
      await stopDaemon(daemon, 'SIGTERM');
      daemon = undefined;
    } finally {
      renameSync(`${addon}.gone`, addon);
    }
  },
);
