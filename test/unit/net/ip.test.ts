import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatIp,
  parseCidr,
  parseIp,
  parseRange,
  tryParseIp,
  rangeSize,
  IpParseError,
} from '../../../src/net/ip.js';

test('parses and formats IPv4', () => {
  assert.equal(formatIp(parseIp('10.210.1.15')), '10.210.1.15');
  assert.equal(parseIp('0.0.0.1').value, 1n);
  for (const bad of ['10.0.0', '10.0.0.256', '10.0.0.01', 'a.b.c.d', ''])
    assert.equal(tryParseIp(bad), undefined, bad);
});

test('parses and formats IPv6 canonically (RFC 5952)', () => {
  assert.equal(formatIp(parseIp('FD00:0210:0000:0000:0000:0000:0000:0001')), 'fd00:210::1');
  assert.equal(formatIp(parseIp('::')), '::');
  assert.equal(formatIp(parseIp('1:0:0:2:0:0:0:3')), '1:0:0:2::3');
  assert.equal(formatIp(parseIp('1:0:2:3:4:5:6:7')), '1:0:2:3:4:5:6:7');
  assert.equal(formatIp(parseIp('::ffff:10.0.0.1')), '::ffff:a00:1');
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7'])
    assert.equal(tryParseIp(bad), undefined, bad);
});

test('round-trips any address', () => {
  fc.assert(
    fc.property(fc.ipV4(), (s) => formatIp(parseIp(s)) === s),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.ipV6(), (s) => {
      const ip = parseIp(s);
      const again = parseIp(formatIp(ip));
      return again.value === ip.value && again.family === 6;
    }),
    { numRuns: 500 },
  );
});

test('parses CIDRs, ranges and single addresses', () => {
  assert.equal(rangeSize(parseRange('10.210.0.0/28')), 16n);
  assert.equal(rangeSize(parseRange('10.210.1.10-10.210.1.20')), 11n);
  assert.equal(rangeSize(parseRange('fd00:210::/124')), 16n);
  assert.equal(rangeSize(parseRange('10.0.0.7')), 1n);
  assert.equal(parseRange('10.0.0.7/24').normalisedFrom, '10.0.0.7/24');
  assert.throws(
    () => parseRange('10.0.0.9-10.0.0.1'),
    (e: unknown) => e instanceof IpParseError && /inverted/.test(e.message),
  );
  assert.throws(() => parseRange('10.0.0.0/33'), /prefix length/);
  assert.throws(() => parseRange('10.0.0.1-fd00::1'), /mixes/);
  assert.throws(() => parseRange('10.0.300.0/24'), /bad CIDR address/);
});

test('parseCidr: only CIDRs, canonical network', () => {
  assert.equal(parseCidr(' 10.1.2.3/8 '), '10.0.0.0/8');
  assert.equal(parseCidr('FD00:0:0::7/64'), 'fd00::/64');
  assert.equal(parseCidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(parseCidr('::/0'), '::/0');
  for (const bad of ['10.0.0.1', '10.0.0.0/33', '10.0.0.0-10.0.0.3', 'x/8', '10.0.0.0/', '10.0.0.0/8/8'])
    assert.equal(parseCidr(bad), undefined, bad);
});
