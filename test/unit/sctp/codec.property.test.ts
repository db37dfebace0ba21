import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ChunkType,
  SctpDecodeError,
  checksumOk,
  decodeAsconf,
  decodeAsconfAck,
  decodeAuth,
  decodeCauses,
  decodeData,
  decodeHeartbeat,
  decodeInit,
  decodeIp,
  decodeSack,
  decodeSctp,
  encodeAsconf,
  encodeAsconfAck,
  encodeInit,
  encodeIp,
  encodeSctp,
  encodeSack,
  freshIpHeader,
  type Chunk,
  type Param,
} from '../../../src/sctp/codec/index.js';
import type { IpAddr } from '../../../src/net/ip.js';

const plain = { noNullPrototype: true } as const;
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const ipv4: fc.Arbitrary<IpAddr> = fc
  .bigInt({ min: 0n, max: (1n << 32n) - 1n })
  .map((value) => ({ family: 4, value }));
const ipv6: fc.Arbitrary<IpAddr> = fc
  .bigInt({ min: 0n, max: (1n << 128n) - 1n })
  .map((value) => ({ family: 6, value }));
const addrParam = fc.oneof(ipv4, ipv6).map((ip): Param => {
  const v = new Uint8Array(ip.family === 4 ? 4 : 16);
  let x = ip.value;
  for (let i = v.length - 1; i >= 0; i--, x >>= 8n) v[i] = Number(x & 0xffn);
  return { type: ip.family === 4 ? 5 : 6, value: v };
});
// Any parameter: unknown types with odd lengths exercise the padding rules.
const anyParam: fc.Arbitrary<Param> = fc.oneof(
  addrParam,
  fc.record({ type: u16, value: fc.uint8Array({ maxLength: 40 }) }, plain),
);
const init = fc.record(
  {
    initiateTag: u32,
    arwnd: u32,
    outStreams: u16,
    inStreams: u16,
    initialTsn: u32,
    params: fc.array(anyParam, { maxLength: 12 }),
  },
  plain,
);
const rawChunk: fc.Arbitrary<Chunk> = fc.record(
  {
    type: fc.integer({ min: 0, max: 255 }),
    flags: fc.integer({ min: 0, max: 255 }),
    body: fc.uint8Array({ maxLength: 64 }),
  },
  plain,
);

test('INIT / INIT-ACK round-trip through chunk and packet encoding', () => {
  fc.assert(
    fc.property(
      init,
      fc.constantFrom(ChunkType.INIT, ChunkType.INIT_ACK),
      u16,
      u16,
      u32,
      (i, type, sp, dp, vtag) => {
        const bytes = encodeSctp({ srcPort: sp, dstPort: dp, vtag, chunks: [encodeInit(type, i)] });
        assert.ok(checksumOk(bytes));
        const p = decodeSctp(bytes, { verify: true });
        assert.equal(p.chunks.length, 1);
        assert.deepEqual(decodeInit(p.chunks[0]!), i);
        assert.deepEqual([p.srcPort, p.dstPort, p.vtag], [sp, dp, vtag]);
      },
    ),
    { numRuns: 400 },
  );
});

test('bundled chunks of any type round-trip in order', () => {
  fc.assert(
    fc.property(fc.array(rawChunk, { minLength: 1, maxLength: 8 }), (chunks) => {
      const bytes = encodeSctp({ srcPort: 1, dstPort: 2, vtag: 3, chunks });
      const back = decodeSctp(bytes, { verify: true }).chunks;
      assert.deepEqual(
        back.map((c) => [c.type, c.flags, [...c.body]]),
        chunks.map((c) => [c.type, c.flags, [...c.body]]),
      );
    }),
    { numRuns: 300 },
  );
});

test('SACK and ASCONF/ASCONF-ACK round-trip', () => {
  fc.assert(
    fc.property(
      fc.record(
        {
          cumTsnAck: u32,
          arwnd: u32,
          gaps: fc.array(fc.tuple(u16, u16), { maxLength: 5 }),
          dups: fc.array(u32, { maxLength: 5 }),
        },
        plain,
      ),
      (s) => assert.deepEqual(decodeSack(encodeSack(s)), s),
    ),
  );
  const item = fc.record(
    {
      type: fc.constantFrom(0xc001, 0xc002, 0xc004),
      correlationId: u32,
      rest: fc.tuple(addrParam).map((a) => [...a]),
    },
    plain,
  );
  fc.assert(
    fc.property(u32, fc.oneof(ipv4, ipv6), fc.array(item, { maxLength: 4 }), (serial, lookup, items) => {
      const back = decodeAsconf(encodeAsconf({ serial, lookup, items }));
      assert.deepEqual(back, { serial, lookup, items });
      assert.deepEqual(decodeAsconfAck(encodeAsconfAck({ serial, items })), { serial, items });
    }),
  );
});

test('IP framing round-trips for both families', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.uint8Array({ minLength: 12, maxLength: 200 }),
      ipv4,
      ipv4,
      ipv6,
      ipv6,
      (v6, payload, a, b, c, d) => {
        const [src, dst] = v6 ? [c, d] : [a, b];
        const bytes = encodeIp(freshIpHeader(v6 ? 6 : 4), src, dst, payload);
        const back = decodeIp(bytes);
        assert.deepEqual([back.ip.src, back.ip.dst, [...back.payload]], [src, dst, [...payload]]);
      },
    ),
  );
});

/** Every decoder on arbitrary input either returns or throws SctpDecodeError — never anything else. */
function decodesOrTypedError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof SctpDecodeError)) throw e;
  }
}

const decoders: ((c: Chunk) => unknown)[] = [
  decodeInit,
  decodeSack,
  decodeData,
  decodeHeartbeat,
  decodeAsconf,
  decodeAsconfAck,
  decodeAuth,
  (c) => decodeCauses(c.body),
];

test('fuzz: random bytes never crash the IP, packet or chunk decoders', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      decodesOrTypedError(() => decodeIp(b));
      decodesOrTypedError(() => decodeSctp(b, { verify: true }));
      decodesOrTypedError(() => {
        for (const c of decodeSctp(b).chunks) for (const d of decoders) decodesOrTypedError(() => d(c));
      });
      for (const d of decoders) decodesOrTypedError(() => d({ type: 0, flags: 0, body: b }));
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: mutated valid INIT packets never crash and never decode past their buffer', () => {
  const valid = fc
    .tuple(init, fc.boolean(), ipv4, ipv4)
    .map(([i, v6, s, d]) =>
      v6
        ? encodeIp(
            freshIpHeader(6),
            { family: 6, value: s.value },
            { family: 6, value: d.value },
            encodeSctp({ srcPort: 5, dstPort: 7, vtag: 0, chunks: [encodeInit(1, i)] }),
          )
        : encodeIp(
            freshIpHeader(4),
            s,
            d,
            encodeSctp({ srcPort: 5, dstPort: 7, vtag: 0, chunks: [encodeInit(1, i)] }),
          ),
    );
  fc.assert(
    fc.property(
      valid,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.nat(),
      (bytes, flips, cut) => {
        const m = Uint8Array.from(bytes);
        for (const [at, v] of flips) m[at % m.length] = v;
        const truncated = m.subarray(0, m.length - (cut % 8));
        decodesOrTypedError(() => {
          const ip = decodeIp(truncated);
          const p = decodeSctp(ip.payload);
          for (const c of p.chunks) for (const d of decoders) decodesOrTypedError(() => d(c));
        });
      },
    ),
    { numRuns: 3000 },
  );
});
