import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '../../../..');

test('docs/openapi.json is generated from the validator schemas and up to date', () => {
  const r = spawnSync(process.execPath, [join(REPO, 'dist/scripts/gen-openapi.js'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(readFileSync(join(REPO, 'docs/openapi.json'), 'utf8')) as { paths: Record<string, unknown> };
  for (const p of ['/healthz', '/api/v1/loadbalancers', '/api/v1/loadbalancers/{name}', '/api/v1/pools', '/api/v1/pools/{name}', '/api/v1/apply']) {
    assert.ok(doc.paths[p], `missing ${p}`);
  }
});
