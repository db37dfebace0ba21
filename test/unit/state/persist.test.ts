// The state file fails closed: wrong content, a lost file, or a restore that would move an address
// refuse the start; temp files never linger; an unchanged state is not rewritten.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { StateStore, stateFileProblems } from '../../../src/state/persist.js';
import { Runtime, StartupError } from '../../../src/shell/runtime.js';

const log = pino({ level: 'silent' });
const pool = {
  apiVersion: 'ferrolb.io/v1',
  kind: 'IPAddressPool',
  metadata: { name: 'p' },
  spec: { addresses: ['10.0.0.0/30'] },
};
const lb = (name: string) => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name },
  spec: { ports: [{ port: 80 }] },
});
const objects = [pool, lb('a'), lb('b')].map((object) => ({ origin: 'api', object }));

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferrolb-persist-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
const writeState = (dir: string, allocations: unknown, objs: unknown = objects) =>
  writeFileSync(
    join(dir, 'state.json'),
    JSON.stringify({ version: 1, savedAt: 'x', objects: objs, allocations }),
  );
async function startError(dir: string): Promise<string> {
  const rt = new Runtime({ store: new StateStore(dir), log });
  const e = await rt.start().then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof StartupError, `expected a refused start, got ${String(e)}`);
  return e.message;
}

test('structural problems are named', () => {
  assert.match(
    stateFileProblems({ version: 1, objects: [], allocations: [] }).join(),
    /"allocations" must be a map .* got an array/,
  );
  assert.match(
    stateFileProblems({ version: 1, objects: {}, allocations: {} }).join(),
    /"objects" must be an array/,
  );
  assert.match(
    stateFileProblems({
      version: 1,
      objects: [],
      allocations: { a: { addresses: ['x'], secondaryAddresses: [] } },
    }).join(),
    /allocations\["a"\]: "x" is not an IP address/,
  );
  assert.match(
    stateFileProblems({ version: 2, objects: [], allocations: {} }).join(),
    /unsupported format version 2/,
  );
  assert.deepEqual(stateFileProblems({ version: 1, objects: [], allocations: {} }), []);
});

test(
  'inconsistent allocations refuse the start instead of moving addresses',
  withDir(async (dir) => {
    const one = (addresses: string[]) => ({ addresses, secondaryAddresses: [] });
    writeState(dir, { a: one(['10.0.0.1']), b: one(['10.0.0.1']) });
    assert.match(await startError(dir), /inconsistent.*"b" holds 10\.0\.0\.1 but would get/);
    writeState(dir, { a: one(['10.9.9.9']), b: one(['10.0.0.1']) });
    assert.match(await startError(dir), /"a" holds 10\.9\.9\.9 but would get 10\.0\.0\.0/);
    writeState(dir, { a: one(['10.0.0.0']), b: one(['10.0.0.1']), ghost: one(['10.0.0.2']) });
    assert.match(await startError(dir), /allocation for unknown service "ghost"/);
    // Emptied allocations ({}) for allocated services: every address would be handed out anew.
    writeState(dir, {});
    assert.match(await startError(dir), /"a" has no allocation recorded but would get 10\.0\.0\.0/);
    writeState(dir, []);
    assert.match(await startError(dir), /"allocations" must be a map/);
    // The consistent file starts.
    writeState(dir, { a: one(['10.0.0.0']), b: one(['10.0.0.1']) });
    const rt = new Runtime({ store: new StateStore(dir), log });
    await rt.start();
    assert.deepEqual(rt.snapshot.allocations.get('b')?.addresses, ['10.0.0.1']);
  }),
);

test(
  'a missing state file after the first start is an error that says how to start fresh',
  withDir(async (dir) => {
    const rt = new Runtime({ store: new StateStore(dir), log });
    await rt.start();
    assert.ok(existsSync(join(dir, 'state.json')) && existsSync(join(dir, 'initialised')));
    rmSync(join(dir, 'state.json'));
    const msg = await startError(dir);
    assert.match(msg, /missing, but .* was initialised/);
    assert.match(msg, /to start fresh deliberately remove .*initialised/);
    rmSync(join(dir, 'initialised'));
    await new Runtime({ store: new StateStore(dir), log }).start();
  }),
);

test(
  'temp files are removed at start and after a failed write; an unchanged state is not rewritten',
  withDir(async (dir) => {
    writeFileSync(join(dir, '.state.json.999.0.tmp'), 'half');
    const store = new StateStore(dir);
    const rt = new Runtime({ store, log });
    await rt.start();
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
    const t = await rt.submit({ type: 'apply', objects: [pool, lb('a')] });
    assert.ok(t.ok && t.changed);
    const before = statSync(join(dir, 'state.json')).mtimeMs;
    const text = readFileSync(join(dir, 'state.json'), 'utf8');
    // Restart with the same state: nothing is rewritten.
    const again = new Runtime({ store: new StateStore(dir), log });
    await again.start();
    assert.equal(statSync(join(dir, 'state.json')).mtimeMs, before);
    assert.equal(readFileSync(join(dir, 'state.json'), 'utf8'), text);
    // A write that fails (the journal cannot be opened): the change is refused and the last good
    // snapshot still serves; nothing is left behind.
    const journal = join(dir, 'state.journal');
    renameSync(journal, `${journal}.aside`);
    mkdirSync(join(journal, 'x'), { recursive: true });
    const gen = again.snapshot.generation;
    await assert.rejects(again.submit({ type: 'apply', objects: [lb('b')] }), /state could not be saved/);
    assert.equal(again.snapshot.generation, gen);
    assert.equal(again.snapshot.state.loadBalancers.has('b'), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
    // Once the obstacle is gone the same change goes through, and survives a restart.
    rmSync(journal, { recursive: true });
    renameSync(`${journal}.aside`, journal);
    const ok = await again.submit({ type: 'apply', objects: [lb('b')] });
    assert.ok(ok.ok && ok.changed);
    const third = new Runtime({ store: new StateStore(dir), log });
    await third.start();
    assert.deepEqual(third.snapshot.allocations.get('b'), again.snapshot.allocations.get('b'));
  }),
);

test(
  'a change appends O(change) bytes; restarts replay the journal; a torn last line is dropped, a corrupt one refused',
  withDir(async (dir) => {
    const rt = new Runtime({ store: new StateStore(dir), log });
    await rt.start();
    await rt.submit({ type: 'apply', objects: [pool, lb('a'), lb('b')] });
    const base = readFileSync(join(dir, 'state.json'), 'utf8');
    await rt.submit({ type: 'apply', objects: [{ ...lb('a'), spec: { ports: [{ port: 81 }] } }] });
    await rt.submit({ type: 'delete', kind: 'LoadBalancer', name: 'b' });
    assert.equal(readFileSync(join(dir, 'state.json'), 'utf8'), base, 'the base is not rewritten per change');
    const lines = readFileSync(join(dir, 'state.journal'), 'utf8').trim().split('\n');
    assert.ok(lines.length >= 2);
    const last = JSON.parse(lines.at(-1) as string) as {
      del: string[];
      set: unknown[];
      alloc: Record<string, unknown>;
    };
    assert.deepEqual(last.del, ['LoadBalancer/b']);
    assert.deepEqual(last.set, []);
    assert.deepEqual(last.alloc, { b: null });
    const restarted = new Runtime({ store: new StateStore(dir), log });
    await restarted.start();
    assert.deepEqual([...restarted.snapshot.allocations], [...rt.snapshot.allocations]);
    assert.deepEqual(
      restarted.snapshot.objects.map((o) => o.object),
      rt.snapshot.objects.map((o) => o.object),
    );
    // A crash mid-append leaves a torn last line: it was never acknowledged, so it is dropped.
    writeFileSync(
      join(dir, 'state.journal'),
      `${readFileSync(join(dir, 'state.journal'), 'utf8')}{"seq":99,"set":[{"ori`,
    );
    const torn = new Runtime({ store: new StateStore(dir), log });
    await torn.start();
    assert.deepEqual([...torn.snapshot.allocations], [...rt.snapshot.allocations]);
    // Corruption in the middle is not guessed around.
    const text = readFileSync(join(dir, 'state.journal'), 'utf8').split('\n');
    text[0] = '{"seq": garbage';
    writeFileSync(join(dir, 'state.journal'), text.join('\n'));
    assert.match(await startError(dir), /state\.journal.*line 1 is corrupt/);
  }),
);

test(
  'the journal is folded into a new base once it outgrows it; a crash before the truncation is harmless',
  withDir(async (dir) => {
    const rt = new Runtime({ store: new StateStore(dir, { compactBytes: 1 }), log });
    await rt.start();
    await rt.submit({ type: 'apply', objects: [pool, lb('a')] });
    await rt.submit({ type: 'apply', objects: [{ ...lb('a'), spec: { ports: [{ port: 99 }] } }] });
    const keep = readFileSync(join(dir, 'state.journal'), 'utf8');
    for (let i = 0; i < 5; i++)
      await rt.submit({ type: 'apply', objects: [{ ...lb('a'), spec: { ports: [{ port: 100 + i }] } }] });
    const journal = readFileSync(join(dir, 'state.journal'), 'utf8');
    assert.ok(journal.length < keep.length * 3, 'compacted along the way');
    // Old lines put back after a compaction (as if the truncation never happened) are skipped.
    writeFileSync(join(dir, 'state.journal'), keep + journal);
    const again = new Runtime({ store: new StateStore(dir), log });
    await again.start();
    assert.deepEqual(
      (
        again.snapshot.objects.find((o) => o.object.kind === 'LoadBalancer')?.object.spec as {
          ports: unknown;
        }
      ).ports,
      [{ port: 104 }],
    );
  }),
);
