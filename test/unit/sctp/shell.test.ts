import test from 'node:test';
import assert from 'node:assert/strict';
import {
  SctpNatEngine,
  SctpQueueShell,
  sctpRows,
  type PacketIo,
  type PathChanges,
} from '../../../src/sctp/index.js';
import type { NfqueueHandle } from '../../../src/sctp/shell/native.js';
import {
  ChunkType,
  decodeInit,
  decodeIp,
  decodeSctp,
  encodeAsconf,
  ParamType,
} from '../../../src/sctp/codec/index.js';
import { formatIp } from '../../../src/net/ip.js';
import { chunk, initChunk, ip, packet } from './build.js';

/** The LB's cookie token in a translated INIT-ACK. */
const tokenOf = (bytes: Uint8Array): Uint8Array =>
  decodeInit(decodeSctp(decodeIp(bytes).payload).chunks[0]!).params.find(
    (p) => p.type === ParamType.STATE_COOKIE,
  )!.value;

/** A PacketIo that records verdicts and raw sends; `deliver` plays the kernel queue. */
function fakeIo() {
  let cb: ((ids: number[], pkts: Buffer[]) => void) | undefined;
  const verdicts: { id: number; accept: boolean; payload?: Uint8Array }[] = [];
  const raw: { family: number; dst: string; bytes: Uint8Array }[] = [];
  const io: PacketIo = {
    open: (_q, onPackets) => {
      cb = onPackets;
      return {} as NfqueueHandle;
    },
    verdict: (_h, id, accept, payload) => verdicts.push({ id, accept, ...(payload ? { payload } : {}) }),
    close: () => (cb = undefined),
    sendRaw: (family, dst, bytes) => raw.push({ family, dst: Buffer.from(dst).toString('hex'), bytes }),
  };
  return {
    io,
    verdicts,
    raw,
    deliver: (pkts: Uint8Array[]) =>
      cb?.(
        pkts.map((_, i) => i + 1),
        pkts.map((p) => Buffer.from(p)),
      ),
  };
}

const svc = {
  name: 'echo',
  vips: [ip('10.9.0.1'), ip('10.9.0.2')],
  port: 7,
  endpoints: [{ addresses: [ip('10.0.2.2')], port: 7 }],
};

test('the shell accepts translated packets with their new bytes, drops the rest, applies changes first', () => {
  const f = fakeIo();
  const order: string[] = [];
  const engine = new SctpNatEngine([svc]);
  const shell = new SctpQueueShell({
    queueNum: 1,
    io: f.io,
    engine,
    now: () => 0,
    applyChanges: (c: PathChanges) => order.push(`apply ${c.add.length}+${c.remove.length}`),
  });
  const origVerdict = f.io.verdict;
  f.io.verdict = (h, id, a, p) => {
    order.push(`verdict ${id}`);
    origVerdict(h, id, a, p);
  };
  shell.start();
  f.deliver([
    packet(ip('10.0.1.2'), ip('10.9.0.1'), 5000, 7, 0, [initChunk(1, { tag: 11, addrs: [ip('10.0.3.2')] })]),
    packet(ip('10.0.1.2'), ip('10.9.9.9'), 5000, 7, 0, [initChunk(1, { tag: 12 })]),
  ]);
  assert.deepEqual(
    f.verdicts.map((v) => [v.id, v.accept]),
    [
      [1, true],
      [2, false],
    ],
  );
  assert.equal(formatIp(decodeIp(f.verdicts[0]!.payload!).ip.dst), '10.0.2.2');
  assert.deepEqual(shell.stats.dropped, { 'no-service': 1 });
  f.deliver([
    packet(ip('10.0.2.2'), ip('10.9.0.1'), 7, 5000, 11, [
      initChunk(2, { tag: 22, cookie: new Uint8Array(4) }),
    ]),
  ]);
  // Half-open: no kernel entries yet (an INIT flood never reaches nft).
  assert.ok(!order.some((o) => o.startsWith('apply')), order.join(', '));
  f.deliver([
    packet(ip('10.0.1.2'), ip('10.9.0.1'), 5000, 7, 22, [
      chunk(ChunkType.COOKIE_ECHO, tokenOf(f.verdicts.at(-1)!.payload!)),
    ]),
  ]);
  f.deliver([packet(ip('10.0.2.2'), ip('10.9.0.1'), 7, 5000, 11, [chunk(ChunkType.COOKIE_ACK)])]);
  assert.deepEqual(order.slice(-2), ['apply 6+0', 'verdict 1'], 'kernel entries before the verdict');
  shell.stop();
});

test('LB-originated packets (ASCONF-ACK) leave through the raw socket towards the requester', () => {
  const f = fakeIo();
  const engine = new SctpNatEngine([svc]);
  const shell = new SctpQueueShell({ queueNum: 1, io: f.io, engine, now: () => 0 });
  shell.start();
  f.deliver([packet(ip('10.0.1.2'), ip('10.9.0.1'), 5000, 7, 0, [initChunk(1, { tag: 11 })])]);
  f.deliver([
    packet(ip('10.0.2.2'), ip('10.9.0.1'), 7, 5000, 11, [
      initChunk(2, { tag: 22, cookie: new Uint8Array(4) }),
    ]),
  ]);
  const asconf = encodeAsconf({
    serial: 1,
    lookup: ip('10.0.1.2'),
    items: [
      {
        type: ParamType.ADD_IP,
        correlationId: 9,
        rest: [{ type: 5, value: Uint8Array.from([10, 0, 4, 2]) }],
      },
    ],
  });
  f.deliver([packet(ip('10.0.1.2'), ip('10.9.0.1'), 5000, 7, 22, [asconf])]);
  assert.equal(f.verdicts.at(-1)?.accept, false, 'the ASCONF itself is absorbed');
  assert.equal(f.raw.length, 1);
  assert.equal(f.raw[0]?.dst, '0a000102');
  assert.equal(shell.stats.originated, 1);
  // The rows for ferroctl show the new client address on both VIPs.
  const wide = sctpRows(engine.associations(0), true);
  assert.ok(wide.rows.some((r) => r.includes('10.0.4.2 → 10.9.0.2')));
  const narrow = sctpRows(engine.associations(0));
  assert.equal(narrow.rows.length, 1);
  assert.equal(narrow.rows[0]?.[2], 'cookie-wait');
});

test('an engine bug never escapes the shell: the packet is dropped and counted', () => {
  const f = fakeIo();
  const engine = new SctpNatEngine([svc]);
  engine.handle = () => {
    throw new Error('bug');
  };
  const shell = new SctpQueueShell({ queueNum: 1, io: f.io, engine });
  shell.start();
  f.deliver([new Uint8Array(40)]);
  assert.deepEqual(f.verdicts, [{ id: 1, accept: false }]);
  assert.equal(shell.stats.dropped['engine-error'], 1);
});

test('asynchronous kernel writes: a verdict waits for its entries, and later verdicts wait behind it', async () => {
  const f = fakeIo();
  const engine = new SctpNatEngine([svc]);
  const order: string[] = [];
  let finish: ((ok: boolean) => void) | undefined;
  const shell = new SctpQueueShell({
    queueNum: 1,
    io: f.io,
    engine,
    now: () => 0,
    applyChanges: (c: PathChanges) =>
      new Promise<boolean>((resolve) => {
        order.push(`apply ${c.add.length}+${c.remove.length}`);
        finish = (ok) => {
          order.push('entries in');
          resolve(ok);
        };
      }),
  });
  const origVerdict = f.io.verdict;
  f.io.verdict = (h, id, a, p) => {
    order.push(`verdict ${id}`);
    origVerdict(h, id, a, p);
  };
  shell.start();
  f.deliver([
    packet(ip('10.0.1.2'), ip('10.9.0.1'), 5000, 7, 0, [initChunk(1, { tag: 11, addrs: [ip('10.0.3.2')] })]),
  ]);
  assert.deepEqual(order, ['verdict 1'], 'no entries needed: verdict at once');
  f.deliver([
    packet(ip('10.0.2.2'), ip('10.9.0.1'), 7, 5000, 11, [
      initChunk(2, { tag: 22, cookie: new Uint8Array(4) }),
    ]),
  ]);
  f.deliver([
    packet(ip('10.0.1.2'), ip('10.9.0.1'), 5000, 7, 22, [
      chunk(ChunkType.COOKIE_ECHO, tokenOf(f.verdicts.at(-1)!.payload!)),
    ]),
  ]);
  assert.deepEqual(order, ['verdict 1', 'verdict 1', 'verdict 1'], 'half-open: no entries, no waiting');
  // COOKIE-ACK (established: installs entries), then an unrelated INIT that needs none: both wait.
  f.deliver([
    packet(ip('10.0.2.2'), ip('10.9.0.1'), 7, 5000, 11, [chunk(ChunkType.COOKIE_ACK)]),
    packet(ip('10.0.1.9'), ip('10.9.9.9'), 5001, 7, 0, [initChunk(1, { tag: 13 })]),
  ]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order.slice(3), ['apply 6+0']);
  finish?.(false); // nft refused: counted, the packet still goes (its association stays in userspace)
  await shell.settled();
  assert.deepEqual(order.slice(3), ['apply 6+0', 'entries in', 'verdict 1', 'verdict 2']);
  assert.equal(shell.stats.applyErrors, 1);
  assert.equal(shell.stats.held, 2);
  shell.stop();
});

test('HA sync through the carrier: a handshake on carrier A is published; carrier B forwards its DATA', async () => {
  const { MessageChannel } = await import('node:worker_threads');
  const { SctpCarrier } = await import('../../../src/sctp/shell/carrier.js');
  const noNft = async () => ({ code: 1, stdout: '', stderr: 'no nft in unit tests' });
  const start = async (f: ReturnType<typeof fakeIo>) =>
    SctpCarrier.start({
      queueNum: 1,
      io: f.io,
      services: [svc],
      run: noNft,
      warn: () => undefined,
      fastPath: false,
    });
  const fa = fakeIo();
  const fb = fakeIo();
  const [a, b] = [await start(fa), await start(fb)];
  const ca = new MessageChannel();
  const cb = new MessageChannel();
  const fromA: { type: string; records?: unknown[] }[] = [];
  ca.port2.on('message', (m: { type: string; records?: unknown[] }) => {
    fromA.push(m);
    // The test plays the Cluster's channel: A's publishes are applied on B.
    if (m.type === 'publish')
      cb.port2.postMessage({ type: 'apply', kind: 'sctp', from: 'a', records: m.records });
  });
  a.attachSync(ca.port1);
  const syncB = b.attachSync(cb.port1);
  const C = ip('10.0.1.2');
  const V = ip('10.9.0.1');
  const E = ip('10.0.2.2');
  fa.deliver([packet(C, V, 5000, 7, 0, [initChunk(1, { tag: 11, addrs: [ip('10.0.3.2')] })])]);
  fa.deliver([packet(E, V, 7, 5000, 11, [initChunk(2, { tag: 22, cookie: new Uint8Array(4) })])]);
  fa.deliver([
    packet(C, V, 5000, 7, 22, [chunk(ChunkType.COOKIE_ECHO, tokenOf(fa.verdicts.at(-1)!.payload!))]),
  ]);
  assert.equal(fromA.filter((m) => m.type === 'publish').length, 0, 'half-open: nothing replicated');
  fa.deliver([packet(E, V, 7, 5000, 11, [chunk(ChunkType.COOKIE_ACK)])]);
  for (let i = 0; i < 500 && syncB.stats.applied === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(fromA.filter((m) => m.type === 'publish').length, 1);
  assert.equal(syncB.stats.applied, 1);
  assert.equal(b.status().sync?.standby, 1);
  // The DATA arrives at B (after a failover): translated as A would.
  fb.deliver([
    packet(ip('10.0.3.2'), ip('10.9.0.2'), 5000, 7, 22, [chunk(ChunkType.DATA, new Uint8Array(9))]),
  ]);
  const v = fb.verdicts.at(-1)!;
  assert.equal(v.accept, true);
  const d = decodeIp(v.payload!);
  assert.deepEqual(
    [formatIp(d.ip.src), formatIp(d.ip.dst), decodeSctp(d.payload).dstPort],
    ['10.9.0.2', '10.0.2.2', 7],
  );
  await a.stop();
  await b.stop();
  ca.port2.close();
  cb.port2.close();
});
