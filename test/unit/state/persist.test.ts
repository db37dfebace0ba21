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
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { StateStore, stateFileProblems } from '../../../src/state/persist.js';
import { Runtime, StartupError } from '../../../src/daemon/runtime.js';

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
    // A write that fails at the rename (state.json replaced by a non-empty directory): no temp left,
    // the change is refused and the last good snapshot still serves.
    rmSync(join(dir, 'state.json'));
    mkdirSync(join(dir, 'state.json', 'x'), { recursive: true });
    const gen = again.snapshot.generation;
    await assert.rejects(again.submit({ type: 'apply', objects: [lb('b')] }), /state could not be saved/);
    assert.equal(again.snapshot.generation, gen);
    assert.equal(again.snapshot.state.loadBalancers.has('b'), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
    // Once the obstacle is gone the same change goes through.
    rmSync(join(dir, 'state.json'), { recursive: true });
    const ok = await again.submit({ type: 'apply', objects: [lb('b')] });
    assert.ok(ok.ok && ok.changed);
    assert.match(readFileSync(join(dir, 'state.json'), 'utf8'), /"b"/);
  }),
);
