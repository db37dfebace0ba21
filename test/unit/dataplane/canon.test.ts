import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalV4 } from '../../../src/dataplane/compiler/fragment.js';
import { formatIp, tryParseIp } from '../../../src/net/ip.js';

const canonicalByParse = (a: string): boolean => {
  const ip = tryParseIp(a);
  return ip !== undefined && ip.family === 4 && formatIp(ip) === a;
};

test('canonicalV4: true exactly for the dotted quads the parser formats back unchanged', () => {
  // Strings of digits and dots (the near misses: leading zeros, 256, five parts, empty parts).
  const near = fc
    .array(fc.constantFrom('0', '1', '2', '5', '9', '.', '25', '255', '256', '00'), { maxLength: 12 })
    .map((xs) => xs.join(''));
  const quads = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  fc.assert(
    fc.property(fc.oneof(near, quads, fc.string({ maxLength: 16 })), (a) => {
      assert.equal(canonicalV4(a), canonicalByParse(a), a);
    }),
    { numRuns: 5000 },
  );
  for (const a of ['010.1.1.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '', '::1', '1.2.3.4 '])
    assert.equal(canonicalV4(a), false, a);
  assert.equal(canonicalV4('0.0.0.0'), true);
  assert.equal(canonicalV4('255.255.255.255'), true);
});
