// `npm run demo` is the README's first command: it must keep working and keep showing what it says
// (traffic through the VIPs, BGP announce/withdraw at a real BIRD, the status page, a multihomed SCTP
// association across a path cut, a Layer 2 takeover with zero moves on return), and leave the host as it found it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../support/netns.js';
import { REPO, tempDir } from '../support/daemon.js';

const skip = e2eSkipReason();

// Other tests' namespaces may come and go meanwhile (locally); the demo's own are named fl<id>*.
const hostState = () => ({
  nft: execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }),
  links: execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => !/^v[0-9a-f]{6}/.test(n)) // test veth ends (v<topology id>...)
    .sort()
    .join(' '),
});

test(
  'the demo runs end to end, shows the product and leaves the host as it was',
  { skip, timeout: 600_000 },
  async (t) => {
    const dir = tempDir('ferrolb-demo-test-');
    t.after(() => dir.remove());
    const before = hostState();
    const shot = join(dir.path, 'status.png');
    const r = await new Promise<{ code: number | null; out: string }>((res) => {
      const p = spawn(process.execPath, [join(REPO, 'dist/scripts/demo.js')], {
        env: { ...process.env, FERROLB_DEMO_SCREENSHOT: shot },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 540_000,
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.once('exit', (code) => res({ code, out }));
    });
    assert.equal(r.code, 0, r.out);
    for (const shown of [
      /HTTP {2}200 requests to 10\.200\.0\.10:80 → 200 answered, 0 failed/,
      /UDP {3}50 datagrams to 10\.200\.0\.11:53 → 50 echoed/,
      /SCTP {2}usrsctp client → 10\.200\.0\.12:7 → echoed: true/,
      /10\.200\.0\.10\/32 +unicast \[ferrolb/, // BIRD's own table
      /after the delete BIRD has \["10\.200\.0\.1[0-2]\/32","10\.200\.0\.1[0-2]\/32","10\.200\.0\.1[0-2]\/32"\]/,
      /HTTP {2}100 requests → 100 answered, 0 failed, per backend \{"b[12]":\d+,"b[12]":\d+\}/,
      /while ferrolb is down: 50 requests → 50 answered, 0 failed/,
      /3 messages "after-cut" echoed/,
      /arping \S+ from the client → answered by [0-9a-f:]{17} \(lb[123]\)$/m,
      /curl http:\/\/\S+\/ → hello from the backend/,
      /new owner: lb[123]; arping \S+ → answered by [0-9a-f:]{17} \(lb[123]\)$/m,
      /after lb[123]'s return the owner is lb[123]: 0 moves/,
      /demo done/,
    ])
      assert.match(r.out, shown);
    // Layer 2: the client's first answered request after the owner's death, within a sane bound
    // (docs/l2.md: 3 heartbeats of 100 ms plus the gratuitous ARP), by another node than the dead one.
    const took = /takeover: first request after the kill answered in (\d+) ms/.exec(r.out);
    assert.ok(took && Number(took[1]) < 3000, `takeover printed and under 3 s: ${took?.[0]}`);
    const dead = /the owner (lb[123]) dies/.exec(r.out)?.[1];
    const next = /new owner: (lb[123])/.exec(r.out)?.[1];
    assert.ok(dead && next && dead !== next, `the dead owner ${dead} is replaced (${next})`);
    assert.ok(existsSync(shot) && statSync(shot).size > 10_000, 'status page screenshot saved');
    assert.deepEqual(hostState(), before, 'the host is left as the demo found it');
    const ids = [...r.out.matchAll(/namespaces fl([0-9a-f]{6})\* removed/g)].map((m) => m[1]);
    assert.equal(ids.length, 3, 'each act says which namespaces were its own');
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    for (const id of ids) {
      assert.doesNotMatch(left, new RegExp(`^fl${id}`, 'm'), `namespaces fl${id}* left behind`);
      assert.doesNotMatch(links, new RegExp(`: v${id}`), `links v${id}* left behind`);
    }
  },
);
