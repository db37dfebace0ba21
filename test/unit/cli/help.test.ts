// --help on every command prints its usage and exits 0 without side effects; unknown commands and
// flags exit 2 with usage. The binaries themselves are run.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VERSION } from '../../../src/version.js';

const REPO = resolve(import.meta.dirname, '../../../..');
const BIN = { ferrolb: join(REPO, 'bin/ferrolb.js'), ferroctl: join(REPO, 'bin/ferroctl.js') };

function run(
  bin: keyof typeof BIN,
  args: string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    // No server anywhere: a command that tried to reach the API would fail with "cannot reach".
    const p = spawn(process.execPath, [BIN[bin], ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FERROLB_API: 'http://127.0.0.1:9' },
      timeout: 30_000,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('exit', (code) => res({ code, out, err }));
  });
}

test('ferrolb: --help/-h on every command prints its usage, exits 0 and starts nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-help-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  const cases: [string[], RegExp][] = [
    [['--help'], /^usage: ferrolb COMMAND/],
    [['-h'], /^usage: ferrolb COMMAND/],
    [['help'], /^usage: ferrolb COMMAND/],
    [['help', 'run'], /^usage: ferrolb run/],
    [
      ['run', '--help', '--state-dir', stateDir, '--api', '127.0.0.1:0'],
      /^usage: ferrolb run[\s\S]*--insecure-api/,
    ],
    [['run', '-h'], /^usage: ferrolb run/],
    [['check', '--help'], /^usage: ferrolb check/],
    [['agent', '--help', '--state-dir', stateDir], /^usage: ferrolb agent/],
    [['controller', '-h'], /^usage: ferrolb controller/],
    [['version', '--help'], /^usage: ferrolb version/],
  ];
  const results = await Promise.all(cases.map(([args]) => run('ferrolb', args)));
  results.forEach((r, i) => {
    const [args, re] = cases[i]!;
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.match(r.out, re, args.join(' '));
    assert.equal(r.err, '', args.join(' '));
  });
  assert.equal(existsSync(stateDir), false, '--help touched no state directory');
});

test('ferrolb: --version, and usage errors exit 2 with the usage of the command', async () => {
  const [v1, v2, none, unknown, badFlag, badValue, checkNoConfig, agentBad, ctrlBad] = await Promise.all([
    run('ferrolb', ['--version']),
    run('ferrolb', ['version']),
    run('ferrolb', []),
    run('ferrolb', ['frobnicate']),
    run('ferrolb', ['run', '--no-such-flag']),
    run('ferrolb', ['run', '--dataplane', 'maybe']),
    run('ferrolb', ['check']),
    run('ferrolb', ['agent', '--bogus']),
    run('ferrolb', ['controller', 'extra']),
  ]);
  assert.deepEqual([v1.code, v1.out.trim()], [0, VERSION]);
  assert.deepEqual([v2.code, v2.out.trim()], [0, VERSION]);
  for (const [r, msg, usage] of [
    [none, /no command given/, /usage: ferrolb COMMAND/],
    [unknown, /unknown command "frobnicate"/, /usage: ferrolb COMMAND/],
    [badFlag, /Unknown option '--no-such-flag'/, /usage: ferrolb run/],
    [badValue, /--dataplane: "maybe" is not on or off/, /usage: ferrolb run/],
    [checkNoConfig, /check needs --config FILE/, /usage: ferrolb check/],
    [agentBad, /Unknown option '--bogus'/, /usage: ferrolb agent/],
    [ctrlBad, /Unexpected argument 'extra'/, /usage: ferrolb controller/],
  ] as const) {
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, msg);
    assert.match(r.err, usage);
    assert.equal(r.out, '');
  }
});

test('ferroctl: --help on every command and subcommand exits 0 without calling the API', async () => {
  const cases: [string[], RegExp][] = [
    [['--help'], /^usage: ferroctl \[--server URL\|HOST:PORT\]/],
    [['-h'], /^usage: ferroctl/],
    [['get', '--help'], /^usage: ferroctl get lb\|pools/],
    [['get', 'lb', '--help'], /^usage: ferroctl get/],
    [['get', 'pools', 'x', '-h'], /^usage: ferroctl get/],
    [['get', 'bgp', '--help'], /^usage: ferroctl get/],
    [['apply', '--help'], /^usage: ferroctl apply -f FILE/],
    [['apply', '-f', '/nonexistent', '--help'], /^usage: ferroctl apply/],
    [['delete', 'lb', 'web', '--help'], /^usage: ferroctl delete/],
    [['version', '--help'], /^usage: ferroctl version/],
  ];
  const results = await Promise.all(cases.map(([args]) => run('ferroctl', args)));
  results.forEach((r, i) => {
    const [args, re] = cases[i]!;
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.match(r.out, re, args.join(' '));
    assert.equal(r.err, '', args.join(' '));
  });
});

test('ferroctl: --version, and usage errors exit 2 with usage', async () => {
  const [v, none, unknown, badFlag, extra, badRes, badOut, noFile] = await Promise.all([
    run('ferroctl', ['--version']),
    run('ferroctl', []),
    run('ferroctl', ['frob']),
    run('ferroctl', ['get', 'lb', '--bogus']),
    run('ferroctl', ['get', 'lb', 'a', 'b']),
    run('ferroctl', ['get', 'things']),
    run('ferroctl', ['get', 'lb', '-o', 'xml']),
    run('ferroctl', ['apply']),
  ]);
  assert.deepEqual([v.code, v.out.trim()], [0, VERSION]);
  for (const [r, msg, usage] of [
    [none, /no command given/, /usage: ferroctl/],
    [unknown, /unknown command "frob"/, /usage: ferroctl/],
    [badFlag, /Unknown option '--bogus'/, /usage: ferroctl/],
    [extra, /unexpected argument "b"/, /usage: ferroctl get/],
    [badRes, /get what\?/, /usage: ferroctl get/],
    [badOut, /-o: "xml" is not one of/, /usage: ferroctl get/],
    [noFile, /apply needs -f FILE/, /usage: ferroctl apply/],
  ] as const) {
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, msg);
    assert.match(r.err, usage);
  }
});
