import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  claimOf,
  decodeArp,
  decodeNa,
  encodeArp,
  encodeNa,
  gratuitousArp,
  icmpv6Checksum,
  unsolicitedNa,
  FrameError,
} from '../../../src/l2/frames.js';
import { formatIp } from '../../../src/net/ip.js';

const mac = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
const v4 = fc.bigInt({ min: 0n, max: 0xffffffffn }).map((value) => formatIp({ family: 4, value }));
const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => formatIp({ family: 6, value }));

describe('ARP frames', () => {
  it('round-trips every field', () => {
    fc.assert(
      fc.property(
        mac,
        mac,
        fc.constantFrom(1 as const, 2 as const),
        mac,
        v4,
        mac,
        v4,
        (d, s, op, sm, si, tm, ti) => {
          const p = { op, senderMac: sm, senderIp: si, targetMac: tm, targetIp: ti };
          assert.deepEqual(decodeArp(encodeArp(d, s, p)), { dst: d, src: s, ...p });
        },
      ),
    );
  });
  it('gratuitous ARP: broadcast request and reply, sender = target = the address', () => {
    const [req, rep] = gratuitousArp('02:00:00:00:00:01', '10.0.0.7');
    // Bytes checked by hand against RFC 826 / 5227 (what tshark shows as "Gratuitous ARP").
    assert.equal(
      req.toString('hex'),
      'ffffffffffff020000000001080600010800060400010200000000010a000007' + '0000000000000a000007',
    );
    assert.deepEqual(decodeArp(rep), {
      dst: 'ff:ff:ff:ff:ff:ff',
      src: '02:00:00:00:00:01',
      op: 2,
      senderMac: '02:00:00:00:00:01',
      senderIp: '10.0.0.7',
      targetMac: '02:00:00:00:00:01',
      targetIp: '10.0.0.7',
    });
    assert.deepEqual(claimOf(req), { address: '10.0.0.7', mac: '02:00:00:00:00:01' });
  });
  it('refuses bad input and ignores frames that are not ARP', () => {
    assert.throws(() => gratuitousArp('02:00:00:00:00', '10.0.0.1'), FrameError);
    assert.throws(() => gratuitousArp('02:00:00:00:00:01', 'fd00::1'), /not an IPv4 address/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const a = decodeArp(b);
        if (a) assert.equal(Buffer.from(b).readUInt16BE(12), 0x0806);
      }),
    );
    assert.equal(
      claimOf(
        encodeArp('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:02', {
          op: 1,
          senderMac: '02:00:00:00:00:02',
          senderIp: '0.0.0.0',
          targetMac: '00:00:00:00:00:00',
          targetIp: '10.0.0.1',
        }),
      ),
      undefined,
      'ARP probe claims nothing',
    );
  });
});

describe('Neighbour Advertisements', () => {
  it('round-trip, with a checksum that verifies (sum over pseudo-header and message is 0)', () => {
    fc.assert(
      fc.property(
        mac,
        mac,
        v6,
        v6,
        v6,
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.option(mac, { nil: undefined }),
        (d, s, src, dst, t, r, so, o, tm) => {
          const na = {
            source: src,
            destination: dst,
            target: t,
            router: r,
            solicited: so,
            override: o,
            ...(tm ? { targetMac: tm } : {}),
          };
          const f = encodeNa(d, s, na);
          assert.deepEqual(decodeNa(f), { dst: d, src: s, ...na });
          assert.equal(icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), f.subarray(54)), 0);
          // Any flipped bit in the ICMPv6 message breaks the checksum: the decoder refuses it.
          const g = Buffer.from(f);
          g[54 + 8] = g[54 + 8]! ^ 1;
          assert.equal(decodeNa(g), undefined);
        },
      ),
    );
  });
  it('unsolicited NA: all-nodes, hop limit 255, Override set, target link-layer option', () => {
    const f = unsolicitedNa('02:00:00:00:00:01', 'fd00::7');
    assert.equal(f.length, 14 + 40 + 32);
    assert.equal(f[21], 255);
    assert.equal(f.subarray(0, 6).toString('hex'), '333300000001');
    assert.deepEqual(decodeNa(f), {
      dst: '33:33:00:00:00:01',
      src: '02:00:00:00:00:01',
      source: 'fd00::7',
      destination: 'ff02::1',
      target: 'fd00::7',
      router: false,
      solicited: false,
      override: true,
      targetMac: '02:00:00:00:00:01',
    });
    assert.deepEqual(claimOf(f), { address: 'fd00::7', mac: '02:00:00:00:00:01' });
  });
  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => void decodeNa(b)));
  });
});
