import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BgpDecodeError,
  MessageFramer,
  decodeMessage,
  encodeMessage,
  endOfRib,
  isEndOfRib,
  packUpdates,
  parsePrefix,
  type CodecContext,
  type OutRoute,
  type UpdateMessage,
} from '../../../src/bgp/codec/index.js';
import { messageArb } from './arbitraries.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const MARKER = 'ff'.repeat(16);
/** A whole message from type and body hex, with the length field computed. */
const msg = (type: number, body: string): Uint8Array => {
  const b = body.replace(/\s+/g, '');
  return hex(
    `${MARKER}${(19 + b.length / 2).toString(16).padStart(4, '0')}${type.toString(16).padStart(2, '0')}${b}`,
  );
};
const ctx4: CodecContext = { fourOctetAs: true, addPath: () => false };
/** fast-check builds null-prototype records; compare plain data. */
const plain = <T>(x: T): T => structuredClone(x);
const ctxAddPath: CodecContext = { fourOctetAs: true, addPath: () => true };

describe('bgp codec: fixed vectors', () => {
  it('encodes KEEPALIVE as the 19-byte header of type 4', () => {
    assert.deepEqual(Buffer.from(encodeMessage({ type: 'keepalive' })).toString('hex'), `${MARKER}001304`);
  });

  it('encodes an OPEN with a 4-octet ASN as AS_TRANS plus the capability', () => {
    const bytes = encodeMessage({
      type: 'open',
      version: 4,
      asn: 4200000001,
      holdTimeSec: 90,
      bgpId: 0x0a000001,
      capabilities: [{ kind: 'four-octet-as', asn: 4200000001 }],
    });
    // version 4, AS 23456, hold 90, id 10.0.0.1, opt len 8, param 2 len 6, cap 65 len 4 value.
    assert.equal(Buffer.from(bytes).toString('hex'), `${MARKER}002501045ba0005a0a0000010802064104fa56ea01`);
    const m = decodeMessage(bytes);
    assert.equal(m.type, 'open');
    if (m.type === 'open') {
      assert.equal(m.asn, 4200000001);
      assert.equal(m.asn2, 23456);
    }
  });

  it('decodes a hand-built IPv4 UPDATE and checks each attribute', () => {
    const attrs =
      '400101 00' + // ORIGIN IGP
      '400206 0201 0000fde8' + // AS_PATH SEQUENCE [65000]
      '400304 0a000001' + // NEXT_HOP 10.0.0.1
      '800404 00000064' + // MED 100
      '400504 000000c8' + // LOCAL_PREF 200
      'c00804 fde80001' + // COMMUNITIES 65000:1
      'c0200c 0000fde8 00000001 00000002'; // LARGE 65000:1:2
    const attrHex = attrs.replace(/\s+/g, '');
    const nlri = '20c6336401' + '18c0a801'; // 198.51.100.1/32, 192.168.1.0/24
    const body = `0000${(attrHex.length / 2).toString(16).padStart(4, '0')}${attrHex}${nlri}`;
    const len = 19 + body.length / 2;
    const m = decodeMessage(hex(`${MARKER}${len.toString(16).padStart(4, '0')}02${body}`), ctx4);
    assert.equal(m.type, 'update');
    if (m.type !== 'update') return;
    assert.equal(m.attributes.origin, 'igp');
    assert.deepEqual(m.attributes.asPath, [{ type: 'sequence', asns: [65000] }]);
    assert.equal(m.attributes.nextHop, 0x0a000001n);
    assert.equal(m.attributes.med, 100);
    assert.equal(m.attributes.localPref, 200);
    assert.deepEqual(m.attributes.communities, [65000 * 65536 + 1]);
    assert.deepEqual(m.attributes.largeCommunities, [{ global: 65000, local1: 1, local2: 2 }]);
    assert.deepEqual(m.nlri, [parsePrefix('198.51.100.1/32'), parsePrefix('192.168.1.0/24')]);
  });

  it('recognises End-of-RIB for IPv4 and IPv6', () => {
    for (const [afi, safi] of [
      [1, 1],
      [2, 1],
    ] as const) {
      const m = decodeMessage(encodeMessage(endOfRib(afi, safi)));
      assert.equal(m.type === 'update' && isEndOfRib(m), `${afi}/${safi}`);
    }
  });
});

describe('bgp codec: errors carry the NOTIFICATION to send', () => {
  const expectError = (bytes: Uint8Array, code: number, subcode: number): void => {
    assert.throws(
      () => decodeMessage(bytes, ctx4),
      (e: unknown) => e instanceof BgpDecodeError && e.code === code && e.subcode === subcode,
    );
  };
  it('bad marker → 1/1', () => expectError(hex(`${'ff'.repeat(15)}00 0013 04`), 1, 1));
  it('length over 4096 → 1/2', () => expectError(hex(`${MARKER}1001 04`), 1, 2));
  it('KEEPALIVE with a body → 1/2', () => expectError(hex(`${MARKER}0014 04 00`), 1, 2));
  it('unknown type → 1/3', () => expectError(hex(`${MARKER}0013 09`), 1, 3));
  it('OPEN version 3 → 2/1', () => expectError(hex(`${MARKER}001d 01 03 fde8 005a 0a000001 00`), 2, 1));
  it('OPEN hold time 2 → 2/6', () => expectError(hex(`${MARKER}001d 01 04 fde8 0002 0a000001 00`), 2, 6));
  it('OPEN BGP id 0 → 2/3', () => expectError(hex(`${MARKER}001d 01 04 fde8 005a 00000000 00`), 2, 3));
  it('OPEN optional parameter type 1 → 2/4', () =>
    expectError(hex(`${MARKER}0020 01 04 fde8 005a 0a000001 03 0101 00`), 2, 4));
  it('UPDATE ORIGIN 5 → 3/6', () => expectError(msg(2, '0000 0004 400101 05'), 3, 6));
  it('UPDATE ORIGIN with optional flag → 3/4', () => expectError(msg(2, '0000 0004 c00101 00'), 3, 4));
  it('UPDATE unknown well-known attribute → 3/2', () => expectError(msg(2, '0000 0004 406301 00'), 3, 2));
  it('UPDATE NLRI without NEXT_HOP → 3/3', () =>
    expectError(msg(2, '0000 0007 400101 00 400200 20 0a000001'), 3, 3));
  it('UPDATE prefix length 33 → 3/10', () => expectError(msg(2, '0000 0000 21 0a'), 3, 10));
  it('UPDATE attribute overrunning the block → 3/5', () => expectError(msg(2, '0000 0004 400109 00'), 3, 5));
  it('UPDATE AS_PATH bad segment type → 3/11', () =>
    expectError(msg(2, '0000 0009 400206 0701 0000fde8'), 3, 11));
  it('UPDATE duplicate attribute → 3/1', () => expectError(msg(2, '0000 0008 400101 00 400101 00'), 3, 1));
  it('ROUTE-REFRESH of 5 bytes → 7/1', () => expectError(hex(`${MARKER}0018 05 0001 00 01 00`), 7, 1));
});

describe('bgp codec: properties', () => {
  it('every message round-trips (decode ∘ encode = id)', () => {
    fc.assert(
      fc.property(messageArb(), (m) => {
        assert.deepEqual(decodeMessage(encodeMessage(m, ctx4), ctx4), plain(m));
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips with ADD-PATH path identifiers', () => {
    fc.assert(
      fc.property(messageArb(true), (m) => {
        assert.deepEqual(decodeMessage(encodeMessage(m, ctxAddPath), ctxAddPath), plain(m));
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes never throw anything but BgpDecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (body, addPath) => {
        for (const type of [1, 2, 3, 4, 5]) {
          const len = 19 + body.length;
          const msg = new Uint8Array(len);
          msg.fill(0xff, 0, 16);
          msg[16] = len >> 8;
          msg[17] = len & 0xff;
          msg[18] = type;
          msg.set(body, 19);
          try {
            decodeMessage(msg, addPath ? ctxAddPath : ctx4);
          } catch (e) {
            if (!(e instanceof BgpDecodeError)) throw e;
            assert.ok(e.code >= 1 && e.code <= 7);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid messages never throw anything but BgpDecodeError', () => {
    fc.assert(
      fc.property(
        messageArb(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (m, flips, cut) => {
          const bytes = Uint8Array.from(encodeMessage(m, ctx4));
          // Mutate the body only for most runs, so that decoding goes past the header checks.
          for (const [pos, val] of flips) bytes[19 + (pos % Math.max(1, bytes.length - 19))] = val;
          const variants = [bytes, bytes.subarray(0, Math.max(19, cut % (bytes.length + 1)))];
          for (const v of variants) {
            try {
              decodeMessage(v, ctx4);
            } catch (e) {
              if (!(e instanceof BgpDecodeError)) throw e;
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the framer yields the same messages however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb(), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 50 })),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.map((m) => encodeMessage(m, ctx4)));
          const framer = new MessageFramer();
          const got: Uint8Array[] = [];
          let pos = 0;
          let i = 0;
          while (pos < stream.length) {
            const n = cuts.length > 0 ? (cuts[i++ % cuts.length] as number) : stream.length;
            got.push(...framer.push(stream.subarray(pos, pos + n)));
            pos += n;
          }
          assert.equal(framer.buffered, 0);
          assert.deepEqual(
            got.map((g) => decodeMessage(g, ctx4)),
            plain(msgs),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the framer refuses an oversized length before buffering it', () => {
    const framer = new MessageFramer();
    assert.throws(
      () => framer.push(hex(`${MARKER}ffff02`)),
      (e: unknown) => e instanceof BgpDecodeError && e.subcode === 2,
    );
  });
});

describe('bgp codec: packing many prefixes per UPDATE', () => {
  const route = (i: number, family: 4 | 6, group = 0): OutRoute => ({
    prefix:
      family === 4
        ? { family: 4, addr: 0x0a000000n + BigInt(i), len: 32 }
        : { family: 6, addr: (0xfd00n << 112n) + BigInt(i), len: 128 },
    attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns: [64512] }], communities: [group] },
    nextHops: family === 4 ? [0x0a0000fen] : [(0xfd00n << 112n) + 0xfen],
  });

  for (const family of [4, 6] as const) {
    for (const addPath of [false, true]) {
      it(`IPv${family}${addPath ? ' with add-path' : ''}: 10k prefixes fit in few messages, none over 4096 bytes`, () => {
        const ctx = addPath ? ctxAddPath : ctx4;
        const routes = Array.from({ length: 10_000 }, (_, i) => route(i, family, i % 3));
        const withdraw = Array.from({ length: 3000 }, (_, i) => route(20_000 + i, family).prefix);
        const msgs = packUpdates(routes, withdraw, ctx);
        const seenNlri: string[] = [];
        const seenWd: string[] = [];
        for (const m of msgs) {
          const bytes = encodeMessage(m, ctx);
          assert.ok(bytes.length <= 4096, `message of ${bytes.length} bytes`);
          const d = decodeMessage(bytes, ctx) as UpdateMessage;
          for (const p of [...d.nlri, ...(d.attributes.mpReach?.nlri ?? [])])
            seenNlri.push(`${p.addr}/${p.len}/${d.attributes.communities?.[0]}`);
          for (const p of [...d.withdrawn, ...(d.attributes.mpUnreach?.withdrawn ?? [])])
            seenWd.push(`${p.addr}`);
        }
        assert.deepEqual(
          seenNlri.sort(),
          routes.map((r) => `${r.prefix.addr}/${r.prefix.len}/${r.attributes.communities?.[0]}`).sort(),
        );
        assert.deepEqual(seenWd.sort(), withdraw.map((p) => `${p.addr}`).sort());
        // A /32 costs 5 bytes (9 with a path id), a /128 17 (21): the lower bound on messages.
        const per = (family === 4 ? 5 : 17) + (addPath ? 4 : 0);
        const minMsgs = Math.ceil((10_000 * per) / 4000) + Math.ceil((3000 * per) / 4070);
        assert.ok(msgs.length <= minMsgs + 6, `${msgs.length} messages, lower bound ${minMsgs}`);
      });
    }
  }
});
