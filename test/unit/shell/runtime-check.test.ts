// Runtime change checks: a component's veto refuses the whole change before it is saved (the
// SIGHUP of a Cluster whose key file is short), and the last good state keeps serving.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Runtime } from '../../../src/shell/runtime.js';
import { StateStore } from '../../../src/state/persist.js';

const pool = (name: string, cidr: string) =>
  `apiVersion: ferrolb.io/v1\nkind: IPAddressPool\nmetadata: {name: ${name}}\nspec: {addresses: ["${cidr}"]}\n`;

test('a check that returns issues refuses the reload; without it the same file is accepted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cfg.yaml');
  writeFileSync(file, pool('a', '10.1.0.0/24'));
  const runtime = new Runtime({
    store: new StateStore(join(dir, 'state')),
    log: pino({ level: 'silent' }),
    configPath: file,
  });
  await runtime.start();
  const gen = runtime.snapshot.generation;
  const seen: string[] = [];
  const remove = runtime.addCheck(async (next, before) => {
    seen.push(`${before.state.pools.size}->${next.state.pools.size}`);
    return next.state.pools.has('b')
      ? [{ object: 'IPAddressPool/b', field: 'spec.addresses', value: '10.2.0.0/24', message: 'vetoed' }]
      : [];
  });
  writeFileSync(file, pool('a', '10.1.0.0/24') + '---\n' + pool('b', '10.2.0.0/24'));
  const refused = await runtime.reload();
  assert.equal(refused.ok, false);
  assert.deepEqual(!refused.ok && refused.issues.map((i) => [i.object, i.field, i.value]), [
    ['IPAddressPool/b', 'spec.addresses', '10.2.0.0/24'],
  ]);
  assert.equal(runtime.snapshot.generation, gen, 'nothing changed');
  assert.equal(runtime.snapshot.state.pools.has('b'), false);
  assert.deepEqual(seen, ['1->2']);
  remove();
  const accepted = await runtime.reload();
  assert.equal(accepted.ok, true);
  assert.equal(runtime.snapshot.state.pools.has('b'), true);
});
