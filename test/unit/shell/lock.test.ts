import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  LockError,
  NetnsLock,
  parseHolder,
  processStartTime,
  STATE_LOCK_FILE,
  StateDirLock,
} from '../../../src/shell/lock.js';

function dir(t: { after: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'ferrolb-lock-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A live process of our own (killed by PID after the test). */
async function liveChild(t: { after: (f: () => void) => void }): Promise<number> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => void p.kill('SIGKILL'));
  await new Promise((r) => p.once('spawn', r));
  return p.pid as number;
}

/** The PID of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid as number;
}

test('the state dir lock names its holder and is released', async (t) => {
  const d = dir(t);
  const lock = new StateDirLock(d);
  await lock.acquire();
  const h = parseHolder(readFileSync(join(d, STATE_LOCK_FILE), 'utf8'));
  assert.equal(h?.pid, process.pid);
  assert.equal(h?.started, processStartTime(process.pid));
  await assert.rejects(new StateDirLock(d).acquire(), LockError);
  await lock.release();
  assert.equal(existsSync(join(d, STATE_LOCK_FILE)), false);
  const again = new StateDirLock(d);
  await again.acquire();
  await again.release();
});

test('a live holder is refused with its PID', async (t) => {
  const d = dir(t);
  const pid = await liveChild(t);
  writeFileSync(join(d, STATE_LOCK_FILE), `${pid} ${processStartTime(pid)}\n`);
  await assert.rejects(new StateDirLock(d).acquire(), (e: unknown) => {
    assert.ok(e instanceof LockError);
    assert.equal(e.holder, pid);
    assert.match(e.message, new RegExp(`in use by another ferrolb \\(PID ${pid}\\)`));
    return true;
  });
  assert.match(readFileSync(join(d, STATE_LOCK_FILE), 'utf8'), new RegExp(`^${pid} `), 'left untouched');
});

test('a stale lock (dead holder, or its PID now another process) is taken over', async (t) => {
  for (const content of [
    `${await deadPid()} 12345\n`,
    `${await liveChild(t)} 1\n`, // the PID is alive but started at another time: a recycled PID
    'garbage\n',
  ]) {
    const d = dir(t);
    writeFileSync(join(d, STATE_LOCK_FILE), content);
    const lock = new StateDirLock(d);
    await lock.acquire();
    assert.equal(parseHolder(readFileSync(join(d, STATE_LOCK_FILE), 'utf8'))?.pid, process.pid, content);
    await lock.release();
  }
});

test('two processes racing for one stale lock: exactly one wins', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, STATE_LOCK_FILE), `${await deadPid()} 1\n`);
  const mod = new URL('../../../src/shell/lock.js', import.meta.url).href;
  const script = `
    const { StateDirLock } = await import(${JSON.stringify(mod)});
    const l = new StateDirLock(${JSON.stringify(d)});
    try { await l.acquire(); console.log('won'); await new Promise((r) => setTimeout(r, 1500)); }
    catch (e) { console.log('lost ' + e.message); }`;
  const outs = await Promise.all(
    [0, 1, 2, 3].map(
      () =>
        new Promise<string>((resolve) => {
          const p = spawn(process.execPath, ['--input-type=module', '-e', script], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          p.stdout.on('data', (b: Buffer) => (out += b.toString()));
          p.once('exit', () => resolve(out.trim()));
        }),
    ),
  );
  assert.equal(outs.filter((o) => o === 'won').length, 1, outs.join('\n'));
  assert.equal(existsSync(join(d, STATE_LOCK_FILE)), false, 'the winner released it on exit');
});

test('the network namespace lock refuses a second holder and names the first', async () => {
  const table = `test${randomBytes(4).toString('hex')}`;
  const a = new NetnsLock(table, () => ({ api: 'http://127.0.0.1:1' }));
  await a.acquire();
  await assert.rejects(new NetnsLock(table).acquire(), (e: unknown) => {
    assert.ok(e instanceof LockError);
    assert.equal(e.holder, process.pid);
    assert.match(
      e.message,
      new RegExp(`kernel table "${table}" .* in use by another ferrolb \\(PID ${process.pid}\\)`),
    );
    return true;
  });
  await a.release();
  const b = new NetnsLock(table);
  await b.acquire();
  await b.release();
});

test('the kernel releases the network namespace lock when its holder dies', async (t) => {
  const table = `test${randomBytes(4).toString('hex')}`;
  const mod = new URL('../../../src/shell/lock.js', import.meta.url).href;
  const p = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { NetnsLock } = await import(${JSON.stringify(mod)}); await new NetnsLock(${JSON.stringify(table)}).acquire(); console.log('held'); setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => void p.kill('SIGKILL'));
  await new Promise<void>((r) => p.stdout.on('data', () => r()));
  await assert.rejects(new NetnsLock(table).acquire(), (e: unknown) => (e as LockError).holder === p.pid);
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
  const l = new NetnsLock(table);
  await l.acquire();
  await l.release();
});
