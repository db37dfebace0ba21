import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildAbort,
  buildInit,
  classifyReply,
  crc32c,
  decodePacket,
  encodePacket,
  SctpDecodeError,
  CHUNK_ABORT,
  CHUNK_INIT,
  CHUNK_INIT_ACK,
  type InitParams,
} from '../../../src/probes/sctp/packet.js';
import { socatArgs, type RawSctpHandlers, type RawSctpOpener } from '../../../src/probes/sctp/transport.js';
import { probeSctp } from '../../../src/probes/probers/sctp.js';
import { assertNoLeaks, leakable } from './support.js';

test('crc32c matches the RFC 3720 / iSCSI check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
});

test('INIT has vtag 0, one INIT chunk with our tag, and a valid checksum', () => {
  const p = decodePacket(
    buildInit({ srcPort: 50000, dstPort: 38412, initiateTag: 0xdeadbeef, initialTsn: 7 }),
  );
  assert.deepEqual([p.srcPort, p.dstPort, p.vtag], [50000, 38412, 0]);
  assert.equal(p.chunks.length, 1);
  assert.equal(p.chunks[0]?.type, CHUNK_INIT);
  assert.equal(p.chunks[0]?.value.readUInt32BE(0), 0xdeadbeef);
  assert.equal(p.chunks[0]?.value.readUInt16BE(8), 1, 'outbound streams ≥ 1 (RFC 9260 §3.3.2)');
  assert.equal(p.chunks[0]?.value.readUInt16BE(10), 1, 'inbound streams ≥ 1');
});

test('damaged packets are rejected with a typed error', () => {
  const good = buildAbort(1, 2, 3);
  const bad = Buffer.from(good);
  bad[5] = (bad[5] ?? 0) ^ 1;
  assert.throws(() => decodePacket(bad), SctpDecodeError);
  assert.throws(() => decodePacket(Buffer.alloc(8)), SctpDecodeError);
  const badLen = Buffer.from(good);
  badLen.writeUInt16BE(200, 14);
  badLen.writeUInt32LE(0, 8);
  badLen.writeUInt32LE(crc32c(badLen), 8);
  assert.throws(() => decodePacket(badLen), SctpDecodeError);
});

test('property: encode → decode round-trips ports, tag and chunks (padding included)', () => {
  const chunk = fc.record({
    type: fc.integer({ min: 0, max: 255 }),
    flags: fc.integer({ min: 0, max: 255 }),
    value: fc.uint8Array({ maxLength: 41 }).map((u) => Buffer.from(u)),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.array(chunk, { maxLength: 5 }),
      (srcPort, dstPort, vtag, chunks) => {
        const buf = encodePacket({ srcPort, dstPort, vtag, chunks });
        assert.equal(buf.length % 4, 0);
        const p = decodePacket(buf);
        assert.deepEqual([p.srcPort, p.dstPort, p.vtag], [srcPort, dstPort, vtag]);
        assert.deepEqual(
          p.chunks.map((c) => [c.type, c.flags, Buffer.from(c.value).toString('hex')]),
          chunks.map((c) => [c.type, c.flags, c.value.toString('hex')]),
        );
      },
    ),
    { numRuns: 300 },
  );
});

const sent: InitParams = { srcPort: 50001, dstPort: 7, initiateTag: 0x11223344, initialTsn: 1 };
const initAck = (vtag: number, peerTag: number, ports = [7, 50001]) => {
  const v = Buffer.alloc(16);
  v.writeUInt32BE(peerTag, 0);
  return encodePacket({
    srcPort: ports[0] ?? 0,
    dstPort: ports[1] ?? 0,
    vtag,
    chunks: [{ type: CHUNK_INIT_ACK, flags: 0, value: v }],
  });
};

test('classifyReply accepts only the INIT-ACK / ABORT that answers our INIT', () => {
  assert.deepEqual(classifyReply(decodePacket(initAck(0x11223344, 0x55)), sent), {
    kind: 'init-ack',
    peerTag: 0x55,
  });
  assert.equal(classifyReply(decodePacket(initAck(0x99, 0x55)), sent).kind, 'unrelated', 'wrong tag');
  assert.equal(
    classifyReply(decodePacket(initAck(0x11223344, 0x55, [8, 50001])), sent).kind,
    'unrelated',
    'wrong port',
  );
  assert.equal(
    classifyReply(decodePacket(initAck(0x11223344, 0)), sent).kind,
    'unrelated',
    'zero tag is invalid',
  );
  assert.equal(classifyReply(decodePacket(buildAbort(7, 50001, 0x11223344)), sent).kind, 'abort');
  assert.equal(classifyReply(decodePacket(buildAbort(7, 50001, 0x1)), sent).kind, 'unrelated');
  // Our own INIT seen on a loopback raw socket is not a reply.
  assert.equal(classifyReply(decodePacket(buildInit(sent)), sent).kind, 'unrelated');
});

test('socat is asked for a raw protocol-132 socket towards the endpoint, without a source filter', () => {
  // A multihomed endpoint may answer from another of its addresses; the tag identifies the reply.
  assert.deepEqual(socatArgs('10.0.0.2').slice(-2), ['STDIO', 'IP4-DATAGRAM:10.0.0.2:132']);
  assert.deepEqual(socatArgs('fd00::2').slice(-2), ['STDIO', 'IP6-DATAGRAM:[fd00::2]:132']);
});

/** An in-memory peer: answers each INIT with whatever `respond` returns; records what it was sent. */
function fakePeer(respond: (init: InitParams) => Buffer[] | 'unsupported') {
  const got: Buffer[] = [];
  let closed = 0;
  const open: RawSctpOpener = (_addr, h: RawSctpHandlers) => ({
    send: (pkt) => {
      got.push(pkt);
      const p = decodePacket(pkt);
      const c = p.chunks[0];
      if (c?.type !== CHUNK_INIT) return;
      const init = {
        srcPort: p.srcPort,
        dstPort: p.dstPort,
        initiateTag: c.value.readUInt32BE(0),
        initialTsn: 0,
      };
      const out = respond(init);
      setImmediate(() =>
        out === 'unsupported'
          ? h.onUnsupported('socat exited 1: Operation not permitted')
          : out.forEach(h.onPacket),
      );
    },
    close: () => void closed++,
  });
  return { open, got, closed: () => closed };
}

test('sctp probe: INIT-ACK → up, and an ABORT with the peer tag is sent', async () => {
  const before = leakable();
  const peer = fakePeer((i) => [
    Buffer.from('garbage!!!!!!!'),
    initAck(i.initiateTag, 0xabcdef, [i.dstPort, i.srcPort]),
  ]);
  const r = await probeSctp({ address: '10.0.0.2', port: 7, timeoutMs: 1000 }, { open: peer.open });
  assert.equal(r.ok, true, r.reason);
  const abort = decodePacket(peer.got.at(-1) ?? Buffer.alloc(0));
  assert.equal(abort.chunks[0]?.type, CHUNK_ABORT);
  assert.equal(abort.vtag, 0xabcdef);
  assert.equal(peer.closed(), 1);
  await assertNoLeaks(before);
});

test('sctp probe: ABORT → down (refused); silence → timeout after one retransmission', async () => {
  const before = leakable();
  const refusing = fakePeer((i) => [buildAbort(i.dstPort, i.srcPort, i.initiateTag)]);
  const r = await probeSctp({ address: 'fd00::2', port: 7, timeoutMs: 1000 }, { open: refusing.open });
  assert.deepEqual([r.ok, r.failure], [false, 'refused']);
  const silent = fakePeer(() => []);
  const s = await probeSctp({ address: '10.0.0.2', port: 7, timeoutMs: 60 }, { open: silent.open });
  assert.deepEqual([s.ok, s.failure], [false, 'timeout']);
  assert.equal(silent.got.length, 2, 'INIT sent twice');
  assert.equal(silent.closed(), 1);
  await assertNoLeaks(before);
});

test('sctp probe: no raw socket available → unsupported, never up', async () => {
  const peer = fakePeer(() => 'unsupported');
  const r = await probeSctp({ address: '10.0.0.2', port: 7, timeoutMs: 1000 }, { open: peer.open });
  assert.deepEqual([r.ok, r.failure], [false, 'unsupported']);
  assert.match(r.reason, /Operation not permitted/);
});
