// ferroctl against the real daemon binary (data plane and probes off: nothing touches the kernel):
// -o yaml|json objects that apply takes back unchanged, apply outcomes, --strict, --wait, describe,
// and the bash completion script sourced in a real bash.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FERROCTL, REPO, ferroctl, type Daemon, withDaemon as withDaemonOf } from '../support/daemon.js';

const EXAMPLE = join(REPO, 'examples/standalone.yaml');

const withDaemon = (fn: (d: Daemon, dir: string) => Promise<void>) => withDaemonOf(['--config', EXAMPLE], fn);

const ok = (r: { status: number | null; stdout: string; stderr: string }, what: string) => {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r.stdout;
};

test('get -o yaml|json prints objects that apply -f takes back unchanged; an edit is "configured"', async () => {
  await withDaemon(async (d, dir) => {
    const yaml = ok(ferroctl(d.url, ['get', 'lb', 'web', '-o', 'yaml']), 'get -o yaml');
    const web = parse(yaml) as Record<string, unknown>;
    assert.equal(web.apiVersion, 'ferrolb.io/v1');
    assert.equal(web.kind, 'LoadBalancer');
    assert.deepEqual(web.metadata, { name: 'web' });
    // Exactly the object as written in the file: no status, no runtime fields in spec.
    assert.deepEqual(Object.keys(web).sort(), ['apiVersion', 'kind', 'metadata', 'spec']);
    const spec = web.spec as Record<string, unknown>;
    assert.equal(spec.pool, 'public');
    assert.equal(spec.addresses, undefined, 'the allocated address is status, not spec');
    assert.deepEqual(spec.endpoints, [
      { address: '10.201.2.2', weight: 1 },
      { address: '10.201.2.3', weight: 2 },
    ]);
    assert.equal(
      ok(ferroctl(d.url, ['apply', '-f', '-'], yaml), 'apply back'),
      'LoadBalancer/web unchanged (' + addressOf(d, 'web') + ')\n',
    );

    // Every object, YAML and JSON, through a pipe: all unchanged.
    for (const [what, o] of [
      ['lb', 'yaml'],
      ['lb', 'json'],
      ['pools', 'yaml'],
      ['pools', 'json'],
    ] as const) {
      const text = ok(ferroctl(d.url, ['get', what, '-o', o]), `get ${what} -o ${o}`);
      const list = (o === 'json' ? JSON.parse(text) : parse(text)) as { kind: string; items: unknown[] };
      assert.equal(list.kind, 'List');
      assert.equal(list.items.length, what === 'lb' ? 3 : 2);
      const lines = ok(ferroctl(d.url, ['apply', '-f', '-'], text), `apply ${what} ${o}`)
        .trimEnd()
        .split('\n');
      assert.equal(lines.length, list.items.length);
      for (const l of lines) assert.match(l, /^(LoadBalancer|IPAddressPool)\/\S+ unchanged/, l);
    }

    // An edit of the printed object is configured; the address stays.
    const f = join(dir, 'web.yaml');
    writeFileSync(f, yaml.replace('weight: 2', 'weight: 5'));
    const before = addressOf(d, 'web');
    assert.equal(
      ok(ferroctl(d.url, ['apply', '-f', f]), 'edit'),
      `LoadBalancer/web configured (${before})\n`,
    );
    assert.match(ok(ferroctl(d.url, ['get', 'lb', 'web', '-o', 'json']), 'json'), /"weight": 5/);
  });
});

function addressOf(d: Daemon, name: string): string {
  const v = JSON.parse(ok(ferroctl(d.url, ['describe', 'lb', name, '-o', 'json']), 'describe')) as {
    addresses: string[];
  };
  return v.addresses.join(', ');
}

test('apply reports created/pending per object; --strict refuses warnings; --wait waits or names why not', async () => {
  await withDaemon(async (d, dir) => {
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const lb = (name: string, extra = '') =>
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: ${name}}\nspec: {pool: public, ports: [{port: 80}]${extra}}\n`;
    const created = ferroctl(d.url, ['apply', '-f', file('a.yaml', lb('cli-a'))]);
    assert.match(ok(created, 'create'), /^LoadBalancer\/cli-a created \(10\.210\.\d+\.\d+\)\n$/);

    // A port clash ends Pending: said, with the reason; exit 0 unless --strict.
    const web = addressOf(d, 'web');
    const clash = file(
      'clash.yaml',
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: cli-clash}\nspec: {addresses: [${web}], ports: [{port: 80}]}\n`,
    );
    const r = ferroctl(d.url, ['apply', '-f', clash]);
    assert.match(ok(r, 'clash'), /LoadBalancer\/cli-clash created \(Pending AddressInUse: .*in use by web/);
    const strict = ferroctl(d.url, ['apply', '--strict', '-f', clash]);
    assert.equal(strict.status, 1);
    assert.match(strict.stdout, /cli-clash unchanged \(Pending AddressInUse/);

    // --wait: a pending service times out naming the reason; an allocated one is ready.
    const t0 = Date.now();
    const waited = ferroctl(d.url, ['apply', '--wait', '--timeout', '1s', '-f', clash]);
    assert.equal(waited.status, 1);
    assert.match(waited.stderr, /LoadBalancer\/cli-clash not ready after 1 s: Pending \(AddressInUse\)/);
    assert.ok(Date.now() - t0 >= 1000, 'it waited for the timeout');
    const ready = ferroctl(d.url, ['apply', '--wait', '-f', file('b.yaml', lb('cli-b'))]);
    assert.match(
      ok(ready, 'wait'),
      /LoadBalancer\/cli-b created \(10\.[\d.]+\)\nLoadBalancer\/cli-b ready\n$/,
    );

    // --strict: a warning refuses the whole change (nothing applied); without it, a warning on stderr.
    const warned = file('w.yaml', lb('cli-warn', ', persistTimeout: 30s') + '---\n' + lb('cli-c'));
    const refused = ferroctl(d.url, ['apply', '--strict', '-f', warned]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /strict: the objects have warnings; nothing was changed/);
    assert.match(
      refused.stderr,
      /LoadBalancer\/cli-warn: spec\.persistTimeout: "30s": only used with algorithm "persist"/,
    );
    assert.equal(ferroctl(d.url, ['get', 'lb', 'cli-c']).status, 1, 'nothing of the file was applied');
    const lax = ferroctl(d.url, ['apply', '-f', warned]);
    assert.match(ok(lax, 'lax'), /cli-warn created[\s\S]*cli-c created/);
    assert.match(lax.stderr, /^warning: LoadBalancer\/cli-warn: spec\.persistTimeout/m);

    // Usage errors exit 2 naming the flag.
    const bad = ferroctl(d.url, ['apply', '--wait', '--timeout', 'soon', '-f', clash]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--timeout: "soon" is not a duration/);
    assert.equal(ferroctl(d.url, ['get', 'lb', '--strict']).status, 2);
  });
});

test('describe lb: status, spec, endpoints, announcements and events (allocation, pending)', async () => {
  await withDaemon(async (d, dir) => {
    const text = ok(ferroctl(d.url, ['describe', 'lb', 'web']), 'describe');
    assert.match(text, /^Name:\s+web\n/);
    assert.match(text, /Status:\s+Allocated/);
    assert.match(text, /Addresses:\s+10\.210\.\d+\.\d+ \(pool public\)/);
    assert.match(text, /Ports:\s+80\/TCP -> 8080/);
    assert.match(text, /Mode:\s+fullnat, select maglev, health check http/);
    assert.match(text, /Data plane:\s+not managed on this node/);
    assert.match(text, /Spec:\n {2}pool: public\n/);
    assert.match(
      text,
      /Endpoints:\n\s+PORT\s+ENDPOINT\s+TARGET PORT\s+WEIGHT\s+STATE\s+PACKETS\s+BYTES\n\s+80\/TCP\s+10\.201\.2\.2\s+8080\s+1\s+unknown/,
    );
    assert.match(
      text,
      /Events:\n\s+AGE\s+TYPE\s+REASON\s+MESSAGE\n\s+\d+s\s+Normal\s+Allocated\s+addresses 10\.210\./,
    );

    // A service that goes Pending and back: both in its history, oldest first.
    const web = addressOf(d, 'web');
    const p = join(dir, 'x.yaml');
    const obj = (addrs: string) =>
      `apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: x}\nspec: {addresses: [${addrs}], ports: [{port: 80}]}\n`;
    writeFileSync(p, obj(web));
    ok(ferroctl(d.url, ['apply', '-f', p]), 'apply x');
    writeFileSync(p, obj('10.210.1.19'));
    ok(ferroctl(d.url, ['apply', '-f', p]), 'apply x again');
    const x = JSON.parse(ok(ferroctl(d.url, ['describe', 'lb', 'x', '-o', 'json']), 'json')) as {
      status: { phase: string };
      events: { reason: string; message: string }[];
      announcements: unknown[];
    };
    assert.equal(x.status.phase, 'Allocated');
    assert.deepEqual(
      x.events.map((e) => e.reason),
      ['Pending', 'Allocated'],
    );
    assert.match(x.events[1]!.message, /10\.210\.1\.19/);
    assert.deepEqual(x.announcements, []);
    const missing = ferroctl(d.url, ['describe', 'lb', 'nope']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /LoadBalancer\/nope not found/);
  });
});

test('bash completion: sourced in bash, completes commands, resources, -o values and live names', async () => {
  await withDaemon(async (d, dir) => {
    const script = ok(ferroctl(d.url, ['completion', 'bash']), 'completion bash');
    const file = join(dir, 'ferroctl.bash');
    writeFileSync(file, script);
    // A ferroctl on PATH for the completion's own name lookups.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'ferroctl'), `#!/bin/sh\nexec ${process.execPath} ${FERROCTL} "$@"\n`, {
      mode: 0o755,
    });
    const complete = (line: string) => {
      const words = line.split(' ');
      const prog = [
        `source ${file}`,
        'complete -p ferroctl',
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
        `COMP_CWORD=${words.length - 1}`,
        `COMP_LINE='${line}'`,
        '_ferroctl',
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ].join('\n');
      const r = spawnSync('bash', ['--norc', '--noprofile', '-c', prog], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        timeout: 30_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const [registered, ...rest] = r.stdout.trimEnd().split('\n');
      assert.equal(registered, 'complete -o default -F _ferroctl ferroctl');
      return rest.filter(Boolean);
    };
    assert.deepEqual(complete('ferroctl '), ['get', 'describe', 'apply', 'delete', 'version', 'completion']);
    assert.deepEqual(complete('ferroctl d'), ['describe', 'delete']);
    assert.deepEqual(complete('ferroctl get '), ['lb', 'pools', 'bgp', 'sctp', 'cluster', 'ct', 'l2']);
    assert.deepEqual(complete('ferroctl get lb -o '), ['table', 'wide', 'json', 'yaml']);
    assert.deepEqual(complete('ferroctl apply --st'), ['--strict']);
    assert.deepEqual(complete('ferroctl completion '), ['bash', 'zsh']);
    // Names from the daemon named by --server on the line being completed.
    assert.deepEqual(complete(`ferroctl --server ${d.url} get lb `).sort(), ['amf-n2', 'dns', 'web']);
    assert.deepEqual(complete(`ferroctl --server ${d.url} describe lb w`), ['web']);
    assert.deepEqual(complete(`ferroctl --server ${d.url} delete pool `).sort(), [
      'public',
      'sctp-secondary',
    ]);
    // No daemon there: no names, no error on the terminal.
    assert.deepEqual(complete('ferroctl --server 127.0.0.1:9 get lb '), []);
  });
});

test(
  'zsh completion script: loads in zsh when zsh is installed',
  // setup.sh installs zsh: in CI a missing zsh is a failure, not a skip.
  { skip: !hasZsh() && !process.env['CI'] && 'zsh not installed' },
  () => {
    const r = spawnSync(process.execPath, [FERROCTL, 'completion', 'zsh'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    // zsh cannot source a pipe's /dev/stdin: give it a file.
    const dir = mkdtempSync(join(tmpdir(), 'ferroctl-zsh-'));
    const file = join(dir, '_ferroctl');
    writeFileSync(file, r.stdout);
    const z = spawnSync(
      'zsh',
      ['-f', '-c', `autoload -U compinit && compinit -u && source ${file} && whence -w _ferroctl`],
      { encoding: 'utf8' },
    );
    rmSync(dir, { recursive: true, force: true });
    assert.equal(z.status, 0, z.stderr);
    assert.match(z.stdout, /_ferroctl: function/);
  },
);

function hasZsh(): boolean {
  return spawnSync('zsh', ['-c', 'true']).status === 0;
}
