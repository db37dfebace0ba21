import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp, type IpAddr } from '../../../src/net/ip.js';
import { SctpNatEngine, type NatEntry } from '../../../src/sctp/index.js';
import { ChunkType, ParamType, decodeInit, decodeIp, decodeSctp } from '../../../src/sctp/codec/index.js';
import { chunk, containsAddress, initChunk, packet } from './build.js';

// Addresses whose bytes cannot be mistaken for SCTP structure by the leak detector (a COOKIE-ECHO
// chunk header is 0a 00 xx xx, i.e. "10.0.x.x"): IPv4 10.100-250.1-254.1-254, IPv6 fd00::/8 with a
// random 64-bit tail.
const v4 = fc
  .tuple(
    fc.integer({ min: 100, max: 250 }),
    fc.integer({ min: 1, max: 254 }),
    fc.integer({ min: 1, max: 254 }),
  )
  .map(([b, c, d]): IpAddr => ({ family: 4, value: BigInt((10 << 24) | (b << 16) | (c << 8) | d) }));
const v6 = fc
  .bigInt({ min: 1n, max: (1n << 64n) - 1n })
  .map((n): IpAddr => ({ family: 6, value: (0xfdn << 120n) | n }));
const addr = fc.oneof(v4, v6);
const uniq = (xs: IpAddr[]) =>
  xs.filter((x, i) => xs.findIndex((y) => y.family === x.family && y.value === x.value) === i);

const scenario = fc
  .record({
    clients: fc.array(addr, { minLength: 1, maxLength: 6 }),
    vips: fc.array(addr, { minLength: 1, maxLength: 4 }),
    endpoint: fc.array(addr, { minLength: 1, maxLength: 3 }),
    tc: fc.integer({ min: 1, max: 0xffffffff }),
    te: fc.integer({ min: 1, max: 0xffffffff }),
    cport: fc.integer({ min: 1, max: 65535 }),
    pick: fc.nat(),
  })
  .map((s) => {
    const all = uniq([...s.clients, ...s.vips, ...s.endpoint]);
    const has = (x: IpAddr) => all.includes(x);
    return {
      ...s,
      clients: uniq(s.clients).filter(has),
      vips: uniq(s.vips).filter(has),
      endpoint: uniq(s.endpoint).filter(has),
    };
  })
  .filter((s) => s.clients.length > 0 && s.vips.length > 0 && s.endpoint.length > 0);

const fam = (xs: readonly IpAddr[], f: 4 | 6) => xs.filter((x) => x.family === f);

test('property: no address crosses the LB, every path pair is covered, entries agree with translation', () => {
  fc.assert(
    fc.property(scenario, (s) => {
      // The INIT comes from a client address to a VIP of the same family the endpoint also has.
      const pairs = s.clients.flatMap((c) =>
        s.vips
          .filter((v) => v.family === c.family && s.endpoint.some((e) => e.family === c.family))
          .map((v) => [c, v] as const),
      );
      fc.pre(pairs.length > 0);
      const [c0, v0] = pairs[s.pick % pairs.length]!;
      const eng = new SctpNatEngine([
        { name: 's', vips: s.vips, port: 9, endpoints: [{ addresses: s.endpoint, port: 99 }] },
      ]);
      const sent: { toward: string; bytes: Uint8Array }[] = [];
      const run = (b: Uint8Array, t: number) => {
        const r = eng.handle(b, t);
        sent.push(...r.packets);
        return r;
      };
      const i = run(packet(c0, v0, s.cport, 9, 0, [initChunk(1, { tag: s.tc, addrs: s.clients })]), 0);
      const fwd = decodeIp(i.packets[0]!.bytes);
      const ep = fwd.ip.dst;
      const lbPort = decodeSctp(fwd.payload).srcPort;
      const ack = run(
        packet(ep, v0, 99, lbPort, s.tc, [
          initChunk(2, { tag: s.te, addrs: s.endpoint, cookie: new Uint8Array(20).fill(7) }),
        ]),
        1,
      );
      const token = decodeInit(decodeSctp(decodeIp(ack.packets[0]!.bytes).payload).chunks[0]!).params.find(
        (p) => p.type === ParamType.STATE_COOKIE,
      )!.value;
      run(packet(c0, v0, s.cport, 9, s.te, [chunk(ChunkType.COOKIE_ECHO, token)]), 2);
      run(packet(ep, v0, 99, lbPort, s.tc, [chunk(ChunkType.COOKIE_ACK)]), 3);
      const entries = eng.natEntries();
      // Coverage: each usable client address × each VIP of its family; each endpoint address × VIP.
      const usable = new Set(
        s.vips.filter((v) => s.endpoint.some((e) => e.family === v.family)).map((v) => v.family),
      );
      const key = (e: NatEntry) => `${formatIp(e.match.src)}>${formatIp(e.match.dst)}`;
      const toEp = new Set(entries.filter((e) => e.toward === 'endpoint').map(key));
      for (const c of s.clients)
        for (const v of s.vips) {
          const want = c.family === v.family && usable.has(v.family);
          if (want)
            assert.ok(
              toEp.has(`${formatIp(c)}>${formatIp(v)}`),
              `missing client path ${formatIp(c)}>${formatIp(v)}`,
            );
        }
      const toCl = entries.filter((e) => e.toward === 'client');
      for (const e of s.endpoint)
        for (const v of fam(s.vips, e.family)) {
          const hit = toCl.find((x) => key(x) === `${formatIp(e)}>${formatIp(v)}`);
          if (fam(s.clients, v.family).length > 0)
            assert.ok(hit, `missing endpoint path ${formatIp(e)}>${formatIp(v)}`);
          if (hit)
            assert.ok(
              s.clients.some((c) => c.value === hit.rewrite.dst.value),
              'endpoint path leads to a client address',
            );
        }
      // All client paths lead to one endpoint address per family.
      for (const f of [4, 6] as const)
        assert.ok(
          new Set(
            entries
              .filter((e) => e.toward === 'endpoint' && e.rewrite.dst.family === f)
              .map((e) => formatIp(e.rewrite.dst)),
          ).size <= 1,
        );
      // Translation of a heartbeat on each path matches its entry.
      for (const e of entries) {
        const r = run(
          packet(e.match.src, e.match.dst, e.match.srcPort, e.match.dstPort, e.match.vtag, [
            chunk(ChunkType.HEARTBEAT, [0, 1, 0, 8, 1, 2, 3, 4]),
          ]),
          4,
        );
        const d = decodeIp(r.packets[0]!.bytes);
        const cur = eng.natEntries().find((x) => key(x) === key(e) && x.toward === e.toward)!;
        assert.equal(formatIp(d.ip.dst), formatIp(cur.rewrite.dst));
        assert.equal(formatIp(d.ip.src), formatIp(cur.rewrite.src));
      }
      // Nothing that crossed leaked an address of the far side.
      for (const p of sent) {
        const far = p.toward === 'endpoint' ? s.clients : s.endpoint;
        for (const a of far)
          assert.ok(!containsAddress(p.bytes, a), `${p.toward} packet carries ${formatIp(a)}`);
      }
      // ABORT empties the table.
      const ab = run(packet(c0, v0, s.cport, 9, s.te, [chunk(ChunkType.ABORT)]), 5);
      assert.equal(ab.changes.remove.length, entries.length);
      assert.deepEqual(eng.natEntries(), []);
    }),
    { numRuns: 300 },
  );
});

test('property: arbitrary byte soup never throws out of the engine and never creates state', () => {
  const eng = new SctpNatEngine([
    {
      name: 's',
      vips: [{ family: 4, value: 0x0a090001n }],
      port: 9,
      endpoints: [{ addresses: [{ family: 4, value: 0x0a000202n }], port: 9 }],
    },
  ]);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
      const r = eng.handle(b, 0);
      assert.ok(r.dropped !== undefined);
    }),
    { numRuns: 2000 },
  );
  assert.equal(eng.size.associations, 0);
});
