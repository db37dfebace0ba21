import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  mergeRanges,
  parseSourceRange,
  rangeText,
  sourceSet,
} from '../../../src/dataplane/compiler/ranges.js';
import { parseRange, type IpRange } from '../../../src/net/ip.js';
import { DataplaneInputError } from '../../../src/dataplane/types.js';

const inAny = (rs: readonly IpRange[], family: 4 | 6, v: bigint) =>
  rs.some((r) => r.family === family && r.first <= v && v <= r.last);

/** CIDRs inside 10.0.0.0/24 and fd00::/120 (lengths 24..32 / 120..128): overlaps are the rule, not the exception. */
const cidrArb = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 }))
    .map(([h, len]) => `10.0.0.${h}/${len}`),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 120, max: 128 }))
    .map(([h, len]) => `fd00::${h.toString(16)}/${len}`),
);

describe('source ranges: normalisation for nft interval sets', () => {
  it('keeps exactly the same address set, as disjoint, non-adjacent, sorted ranges whose text parses back', () => {
    fc.assert(
      fc.property(fc.array(cidrArb, { maxLength: 12 }), (cidrs) => {
        const input = cidrs.map(parseSourceRange);
        const merged = mergeRanges(input);
        for (let i = 1; i < merged.length; i++) {
          const [a, b] = [merged[i - 1]!, merged[i]!];
          if (a.family === b.family) assert.ok(a.last + 1n < b.first, 'disjoint and not adjacent');
          else assert.ok(a.family < b.family, 'IPv4 first');
        }
        // Exhaustively over both small universes (and one address past each end).
        for (const [family, base] of [
          [4, parseRange('10.0.0.0').first],
          [6, parseRange('fd00::').first],
        ] as const)
          for (let i = -1n; i <= 256n; i++)
            assert.equal(inAny(merged, family, base + i), inAny(input, family, base + i), `${family} +${i}`);
        // The element text is the same set again (what nft stores and lists back).
        const back = merged.map((r) => parseRange(rangeText(r)));
        assert.deepEqual(
          back.map((r) => [r.family, r.first, r.last]),
          merged.map((r) => [r.family, r.first, r.last]),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('writes each range as nft lists it: bare address, prefix, or first-last', () => {
    const t = (s: string) => rangeText(parseRange(s));
    assert.equal(t('10.1.2.3/32'), '10.1.2.3');
    assert.equal(t('10.1.2.0/24'), '10.1.2.0/24');
    assert.equal(t('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(t('::/0'), '::/0');
    assert.equal(t('FD01:1::/64'), 'fd01:1::/64');
    assert.equal(t('fd01::1/128'), 'fd01::1');
    assert.equal(t('10.0.0.1-10.0.0.5'), '10.0.0.1-10.0.0.5');
    assert.equal(t('10.0.0.0-10.0.1.255'), '10.0.0.0/23');
  });

  it('merges overlapping and adjacent CIDRs; a /0 swallows everything of its family', () => {
    const s = sourceSet('svc', [
      '10.0.0.0/25',
      '10.0.0.128/25', // adjacent: one /24
      '10.0.0.7/32', // inside
      '192.168.1.77/24', // host bits: normalised to the network
      'fd00::/64',
      '::/0',
    ]);
    assert.deepEqual(s[4], ['10.0.0.0/24', '192.168.1.0/24']);
    assert.deepEqual(s[6], ['::/0']);
    assert.deepEqual(sourceSet('svc', ['10.0.0.0/24'])[6], [], 'a family with no range: nobody');
    // Always-allowed extras (guard endpoints) merge in instead of overlapping a range.
    const withEp = sourceSet('g', ['10.0.0.0/24'], [parseRange('10.0.0.9'), parseRange('10.0.1.0')]);
    assert.deepEqual(withEp[4], ['10.0.0.0-10.0.1.0']);
  });

  it('rejects anything but a CIDR, naming sourceRanges and the value', () => {
    for (const [bad, why] of [
      ['10.0.0.0/33', /prefix length over 32/],
      ['10.0.0.1', /not a CIDR/],
      ['10.0.0.1-10.0.0.9', /not a CIDR/],
      ['fd00::/129', /prefix length over 128/],
      ['nope/8', /bad CIDR address/],
      ['', /not a CIDR/],
    ] as const)
      assert.throws(
        () => sourceSet('ns/web', ['10.9.0.0/16', bad]),
        (e: unknown) =>
          e instanceof DataplaneInputError &&
          e.field === 'sourceRanges' &&
          e.value === bad &&
          e.message.startsWith(`service "ns/web": sourceRanges = ${JSON.stringify(bad)}: `) &&
          why.test(e.message),
        bad,
      );
    assert.throws(() => sourceSet('s', [42 as unknown as string]), /sourceRanges = 42: not a string/);
  });
});
