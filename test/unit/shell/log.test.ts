// FERROLB_LOG_LEVEL is checked before anything starts: a typo is a clear one-line error (exit 2), not
// a stack trace from the logger.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToExit } from '../../support/exit.js';
import { LogLevelError, LOG_LEVELS, parseLogLevel } from '../../../src/shell/log.js';

test('parseLogLevel: known levels in any case, default info, anything else names the source and value', () => {
  assert.equal(parseLogLevel(undefined), 'info');
  assert.equal(parseLogLevel(''), 'info');
  for (const l of LOG_LEVELS) assert.equal(parseLogLevel(l.toUpperCase()), l);
  assert.throws(
    () => parseLogLevel('verbose'),
    (e: unknown) =>
      e instanceof LogLevelError && e.value === 'verbose' && /FERROLB_LOG_LEVEL: "verbose"/.test(e.message),
  );
});

test('ferrolb run with FERROLB_LOG_LEVEL=verbose exits 2 with one clear line and starts nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferrolb-loglevel-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await runToExit(
    'ferrolb',
    [
      ...'run --api 127.0.0.1:0 --dataplane off --probes off --bgp-port off'.split(' '),
      '--state-dir',
      join(dir, 'state'),
    ],
    { FERROLB_LOG_LEVEL: 'verbose' },
  );
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /^ferrolb: FERROLB_LOG_LEVEL: "verbose" is not a log level/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
});
