import test from 'node:test';
import assert from 'node:assert/strict';
import { apiSecurity, isLoopbackHost } from '../../../src/shell/auth.js';
import { StartupError } from '../../../src/shell/runtime.js';

const file = (content: string, mode = 0o100600) => ({ file: { path: '/etc/ferrolb/token', content, mode } });

test('loopback hosts', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
    assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '', '10.0.0.1', 'fd00::1', 'example.com', '128.0.0.1'])
    assert.equal(isLoopbackHost(h), false, h);
});

test('an empty or whitespace-only token file refuses to start (never "auth off")', () => {
  for (const content of ['', '\n', '  \t\n '])
    assert.throws(
      () => apiSecurity(file(content), '127.0.0.1', false),
      (e: unknown) => {
        assert.ok(e instanceof StartupError);
        assert.match(e.message, /--api-token-file \/etc\/ferrolb\/token is empty; refusing to start/);
        return true;
      },
    );
  assert.throws(() => apiSecurity({ env: ' ' }, '127.0.0.1', false), /FERROLB_API_TOKEN is set but empty/);
});

test('a token is read trimmed; a world-readable file is a warning', () => {
  assert.deepEqual(apiSecurity(file('s3cret\n'), '0.0.0.0', false), { token: 's3cret', warnings: [] });
  const r = apiSecurity(file('s3cret\n', 0o100644), '127.0.0.1', false);
  assert.equal(r.token, 's3cret');
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0] ?? '', /readable by every user \(mode 644\); chmod 600 it/);
  assert.deepEqual(apiSecurity({ env: 'x' }, '::', false), { token: 'x', warnings: [] });
});

test('a non-loopback API without a token is refused unless --insecure-api (then a warning)', () => {
  for (const host of ['0.0.0.0', '10.1.2.3', '::', ''])
    assert.throws(() => apiSecurity({}, host, false), /reachable from other hosts but no API token is set/);
  const r = apiSecurity({}, '0.0.0.0', true);
  assert.equal(r.token, undefined);
  assert.match(r.warnings[0] ?? '', /--api 0.0.0.0 without a token \(--insecure-api\)/);
  assert.deepEqual(apiSecurity({}, '127.0.0.1', false), { warnings: [] });
});
