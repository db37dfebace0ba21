// A command that cannot be started (ENOENT, EMFILE when fds run out) is a rejected run, never an
// unhandled 'error' event that kills the daemon.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { SpawnError, spawnRunner } from '../../../src/dataplane/exec.js';

test('a missing command rejects with SpawnError', async () => {
  await assert.rejects(spawnRunner()('/nonexistent/ferrolb-no-such-cmd', []), (e: unknown) => {
    assert.ok(e instanceof SpawnError);
    assert.equal(e.code, 'ENOENT');
    return true;
  });
  const ok = await spawnRunner()('sh', ['-c', 'cat; exit 3'], 'in');
  assert.deepEqual([ok.stdout, ok.stderr, ok.code], ['in', '', 3]);
});

test('out of file descriptors: the run rejects with EMFILE and the process lives on', () => {
  const mod = new URL('../../../src/dataplane/exec.js', import.meta.url).href;
  // In a child with a low fd limit: use up every fd, then run a command.
  const script = `
    import { openSync, closeSync } from 'node:fs';
    const { spawnRunner } = await import(${JSON.stringify(mod)});
    const fds = [];
    try { for (let i = 0; i < 10000; i++) fds.push(openSync('/dev/null', 'r')); } catch {}
    const r = await spawnRunner()('true', []).then(() => 'ran', (e) => e.name + ' ' + e.code);
    for (const fd of fds) closeSync(fd);
    await new Promise((res) => setTimeout(res, 100)); // an unhandled 'error' event would fire here
    const after = await spawnRunner()('true', []).then((x) => 'code ' + x.code, (e) => String(e));
    console.log(JSON.stringify({ r, after, fds: fds.length }));
    // Node leaks the three stdio pipe handles of a spawn that failed with EMFILE (they keep the loop
    // alive); the daemon lives on anyway and its entry point exits explicitly.
    process.exit(0);`;
  const p = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(p.status, 0, p.stderr);
  const out = JSON.parse(p.stdout.trim()) as { r: string; after: string; fds: number };
  assert.ok(out.fds > 0 && out.fds < 64, `filled the fd table (${out.fds})`);
  assert.equal(out.r, 'SpawnError EMFILE');
  assert.equal(out.after, 'code 0', 'commands run again once fds are free');
});
