import test from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { crc32c, sctpChecksum } from '../../../src/sctp/crc32c.js';
import {
  ChunkType,
  ParamType,
  SctpDecodeError,
  checksumOk,
  decodeIp,
  decodeInit,
  decodeSctp,
  decodeHeartbeat,
  decodeData,
  decodeSack,
  encodeInit,
  encodeIp,
  encodeSctp,
  initAddresses,
  ipv4HeaderChecksum,
  supportedFamilies,
  withAddresses,
} from '../../../src/sctp/codec/index.js';
import { formatIp, parseIp } from '../../../src/net/ip.js';
import { readPcapIp } from './pcap.js';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../../test/fixtures/sctp/${name}`, import.meta.url));
const te = new TextEncoder();

test('crc32c matches the RFC 3720 / RFC 9260 check values', () => {
  assert.equal(crc32c(te.encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(crc32c(inc), 0x46dd794e);
  // Incremental computation equals one-shot, whatever the split.
  const buf = te.encode('ferrolb sctp multihoming through fullNAT');
  for (let k = 0; k <= buf.length; k++)
    assert.equal(crc32c(buf, k, buf.length, crc32c(buf, 0, k)), crc32c(buf));
});

const captured = (name: string) => readPcapIp(fixture(name)).map((b) => decodeIp(b));

test('every packet of the real usrsctp captures decodes with a valid CRC32c', () => {
  for (const name of ['client-side.pcap', 'endpoint-side.pcap']) {
    const pkts = captured(name);
    assert.ok(pkts.length >= 10, `${name}: ${pkts.length} packets`);
    for (const p of pkts) {
      assert.ok(checksumOk(p.payload), `${name}: checksum`);
      assert.equal(ipv4HeaderChecksum(p.ip.raw), ((p.ip.raw[10] as number) << 8) | (p.ip.raw[11] as number));
      const s = decodeSctp(p.payload, { verify: true });
      // Re-encoding what we decoded gives the identical bytes (padding is zero on the wire).
      assert.deepEqual(encodeSctp(s), p.payload);
    }
  }
});

test('the captured INIT lists the client real IPv4 and IPv6 addresses (the baseline leak)', () => {
  const [init] = captured('endpoint-side.pcap');
  assert.ok(init);
  const s = decodeSctp(init.payload);
  assert.equal(s.vtag, 0);
  assert.equal(s.chunks[0]?.type, ChunkType.INIT);
  const i = decodeInit(s.chunks[0]!);
  const addrs = initAddresses(i).map(formatIp).sort();
  assert.deepEqual(addrs, ['10.201.1.2', '10.201.3.2', 'fd00:201:1::2', 'fd00:201:3::2']);
  const sat = i.params.find((p) => p.type === ParamType.SUPPORTED_ADDRESS_TYPES);
  assert.ok(sat);
  assert.deepEqual([...supportedFamilies(sat)].sort(), [4, 6]);
  assert.ok(i.params.some((p) => p.type === ParamType.RANDOM));
  // Decode → encode of the INIT chunk is byte-exact (unknown/AUTH params preserved).
  assert.deepEqual(encodeInit(ChunkType.INIT, i).body, s.chunks[0]!.body);
});

test('INIT-ACK keeps its state cookie byte-exact when the addresses are replaced', () => {
  const pkts = captured('client-side.pcap');
  const ackPkt = pkts.find((p) => decodeSctp(p.payload).chunks[0]?.type === ChunkType.INIT_ACK);
  assert.ok(ackPkt);
  const s = decodeSctp(ackPkt.payload);
  const ack = decodeInit(s.chunks[0]!);
  const cookie = ack.params.find((p) => p.type === ParamType.STATE_COOKIE);
  assert.ok(cookie && cookie.value.length > 100);
  const vips = ['10.201.9.1', '10.201.9.2', 'fd00:9::1'].map(parseIp);
  const rewritten = withAddresses(ack, vips);
  const sctp = encodeSctp({ ...s, chunks: [encodeInit(ChunkType.INIT_ACK, rewritten)] });
  assert.ok(checksumOk(sctp));
  const back = decodeInit(decodeSctp(sctp, { verify: true }).chunks[0]!);
  assert.deepEqual(initAddresses(back), vips);
  assert.deepEqual(back.params.find((p) => p.type === ParamType.STATE_COOKIE)?.value, cookie.value);
  assert.deepEqual(
    back.params.filter((p) => p.type !== 5 && p.type !== 6).map((p) => p.type),
    ack.params.filter((p) => p.type !== 5 && p.type !== 6).map((p) => p.type),
  );
  // The grown packet gets a consistent IP header.
  const ip = encodeIp(ackPkt.ip, parseIp('10.9.9.9'), parseIp('10.8.8.8'), sctp);
  const again = decodeIp(ip);
  assert.equal(formatIp(again.ip.src), '10.9.9.9');
  assert.deepEqual(again.payload, sctp);
  assert.equal(ipv4HeaderChecksum(again.ip.raw), ((ip[10] as number) << 8) | (ip[11] as number));
});

test('DATA, SACK and HEARTBEAT from the capture decode to sensible values', () => {
  const chunks = captured('client-side.pcap').flatMap((p) => decodeSctp(p.payload).chunks);
  const data = chunks.find((c) => c.type === ChunkType.DATA);
  assert.ok(data);
  assert.equal(
    new TextDecoder().decode(decodeData(data).userData).trim().replace(/\0/g, ''),
    'hello-ferrolb',
  );
  const sack = chunks.find((c) => c.type === ChunkType.SACK);
  assert.ok(sack);
  assert.equal(decodeSack(sack).gaps.length, 0);
  const hb = chunks.find((c) => c.type === ChunkType.HEARTBEAT);
  assert.ok(hb);
  assert.ok(decodeHeartbeat(hb).length > 0);
});

test('a corrupt CRC is a typed error when verification is asked for', () => {
  const [first] = captured('client-side.pcap');
  const bad = Uint8Array.from(first!.payload);
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
  assert.throws(
    () => decodeSctp(bad, { verify: true }),
    (e: unknown) => e instanceof SctpDecodeError && e.kind === 'bad-checksum',
  );
  assert.equal(sctpChecksum(first!.payload), decodeSctp(first!.payload).checksum);
});
