// Restart = adopt: an engine's kernel entries, written by fastPathScript into (a stand-in for) the
// kernel maps, are all a fresh engine needs to carry on with the association: same id, tags,
// addresses, return paths and AUTH key (ASCONF still verified and signed). Drift is repaired.
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, type IpAddr } from '../../../src/net/ip.js';
import { SctpNatEngine } from '../../../src/sctp/index.js';
import { entryKey } from '../../../src/sctp/engine/association.js';
import { associationKey, keyVector, sign, verify } from '../../../src/sctp/engine/auth.js';
import { PathIds, fastPathScript } from '../../../src/sctp/kernel/nft.js';
import { parseFastPathTable, planAdoption } from '../../../src/sctp/kernel/adopt.js';
import { COMMENT_MAX, entryComment, parseEntryComment } from '../../../src/sctp/kernel/comment.js';
import {
  ChunkType,
  FLAG_T,
  ParamType,
  decodeAsconfAck,
  encodeAsconf,
} from '../../../src/sctp/codec/index.js';
import { AUTH_PARAMS, chunk, initChunk, ip, packet } from './build.js';
import { FakeNft } from './fakenft.js';

import { V4, establish, out, type Bed } from './establish.js';

const V6: Bed = {
  C: [ip('fd00:1:2:3:4:5:6:7'), ip('fd00:3:2:3:4:5:6:7')],
  V: [ip('fd00:9:8:7:6:5:4:1'), ip('fd00:9:8:7:6:5:4:2')],
  E: ip('fd00:2:2:3:4:5:6:7'),
  svc: {
    name: 'v6',
    vips: [ip('fd00:9:8:7:6:5:4:1'), ip('fd00:9:8:7:6:5:4:2')],
    port: 38412,
    endpoints: [{ addresses: [ip('fd00:2:2:3:4:5:6:7')], port: 38412 }],
  },
};

const kernelOf = (nft: FakeNft) => [
  parseFastPathTable(nft.json('ip'), 4),
  parseFastPathTable(nft.json('ip6'), 6),
];
const keys = (eng: SctpNatEngine) => eng.natEntries().map(entryKey).sort();

for (const b of [V4, V6])
  test(`a restarted engine rebuilds the association from the kernel alone (IPv${b.V[0]!.family})`, () => {
    const nft = new FakeNft();
    const ids = new PathIds();
    const old = new SctpNatEngine([b.svc]);
    const { lbPort } = establish(old, b, nft, ids, AUTH_PARAMS(1), AUTH_PARAMS(2));
    const fam = b.V[0]!.family === 4 ? 'ip' : 'ip6';
    assert.equal(nft.size(fam, 'pathid'), old.natEntries().length);

    const plan = planAdoption(kernelOf(nft), [b.svc], 10_000);
    assert.equal(plan.associations.length, 1);
    assert.equal(plan.kept.length, old.natEntries().length, 'every kernel path kept as it is');
    assert.deepEqual([plan.missing.length, plan.stray, plan.strayScript], [0, 0, '']);
    const eng = new SctpNatEngine([b.svc]);
    assert.equal(eng.adopt(plan.associations), 1);
    assert.deepEqual(keys(eng), keys(old), 'the same kernel entries, tags and rewrites');
    const [was, now] = [old.associations(3)[0]!, eng.associations(10_000)[0]!];
    for (const k of [
      'id',
      'service',
      'state',
      'clientPort',
      'lbPort',
      'clientVtag',
      'endpointVtag',
      'endpointPort',
    ] as const)
      assert.deepEqual(now[k], was[k], k);
    assert.deepEqual([...now.clientAddresses].sort(), [...was.clientAddresses].sort());
    assert.deepEqual(now.serviceAddresses, was.serviceAddresses);
    assert.deepEqual(now.endpoint, was.endpoint);

    // The AUTH key came back from the comments: a signed ASCONF from the client is verified and
    // answered with a signed ASCONF-ACK; an unsigned one is still refused.
    const key = associationKey({
      client: keyVector(AUTH_PARAMS(1)).vector!,
      endpoint: keyVector(AUTH_PARAMS(2)).vector!,
      clientHmacs: [1],
      endpointHmacs: [1],
      clientChunks: [],
      endpointChunks: [],
    })!;
    const asconf = encodeAsconf({
      serial: 1,
      lookup: b.C[0]!,
      items: [
        {
          type: ParamType.SET_PRIMARY,
          correlationId: 1,
          rest: [{ type: b.C[1]!.family === 4 ? 5 : 6, value: addrBytes(b.C[1]!) }],
        },
      ],
    });
    const P = b.svc.port;
    assert.equal(
      eng.handle(packet(b.C[0]!, b.V[0]!, 5000, P, 0x2222, [asconf]), 10_001).dropped,
      'auth-failed',
    );
    const r = eng.handle(packet(b.C[0]!, b.V[0]!, 5000, P, 0x2222, sign(key, [1], [asconf])), 10_002);
    const ack = out(r);
    assert.ok(verify(key, ack.sctp.chunks, 0), 'the ASCONF-ACK is signed with the adopted key');
    assert.equal(decodeAsconfAck(ack.sctp.chunks[1]!).items[0]?.type, ParamType.SUCCESS_INDICATION);

    // Data the kernel would carry is translated the same way by the adopted association, and new
    // associations do not reuse its id.
    const d = out(
      eng.handle(
        packet(b.C[1]!, b.V[1]!, 5000, P, 0x2222, [chunk(ChunkType.DATA, new Uint8Array(13))]),
        10_003,
      ),
    );
    assert.deepEqual(
      [formatIp(d.ip.src), formatIp(d.ip.dst), d.sctp.dstPort],
      [formatIp(b.V[1]!), formatIp(b.E), 7 === P ? 7 : P],
    );
    assert.equal(d.sctp.srcPort, lbPort);
    const other = eng.handle(
      packet(ip(b.V[0]!.family === 4 ? '10.0.7.7' : 'fd00:7::7'), b.V[0]!, 6000, P, 0, [
        initChunk(1, { tag: 9 }),
      ]),
      10_004,
    );
    assert.ok((other.association ?? 0) > was.id);

    // ABORT with the T bit (the client's own tag) still finds it and removes every kernel entry.
    const abort = eng.handle(
      packet(b.C[0]!, b.V[0]!, 5000, P, 0x1111, [chunk(ChunkType.ABORT, [], FLAG_T)]),
      10_005,
    );
    assert.equal(abort.changes.remove.length, old.natEntries().length);
  });

test('adoption repairs drift: stray elements are deleted, missing paths added, damaged comments ignored', () => {
  const b = V4;
  const nft = new FakeNft();
  const ids = new PathIds();
  const old = new SctpNatEngine([b.svc]);
  establish(old, b, nft, ids, [], []);
  const n = old.natEntries().length;
  // A key the engine never wrote (no comment) with its values, and one path of the association gone.
  nft.apply(
    [
      'add element ip ferrolb_sctp nsaddr { 0x5c0000ff : 10.9.0.1 }',
      'add element ip ferrolb_sctp ndaddr { 0x5c0000ff : 10.0.2.9 }',
      'add element ip ferrolb_sctp nsport { 0x5c0000ff : 1 }',
      'add element ip ferrolb_sctp ndport { 0x5c0000ff : 2 }',
      'add element ip ferrolb_sctp pathid { 10.0.8.8 . 10.9.0.1 . 1 . 7 : 0x5c0000ff }',
      'add element ip ferrolb_sctp nsport { 0x5c0000fe : 1 }',
    ].join('\n'),
  );
  const victim = old.natEntries()[0]!;
  nft.apply(
    `delete element ip ferrolb_sctp pathid { ${formatIp(victim.match.src)} . ${formatIp(victim.match.dst)} . ${victim.match.srcPort} . ${victim.match.dstPort} }\n`,
  );
  const plan = planAdoption(kernelOf(nft), [b.svc], 0);
  assert.equal(plan.associations.length, 1);
  assert.equal(plan.kept.length, n - 1);
  assert.deepEqual(plan.missing.map(entryKey), [entryKey(victim)]);
  assert.equal(
    plan.stray,
    2 + 1,
    'the foreign key and the orphaned values of the deleted path and 0x5c0000fe',
  );
  // The repair applies cleanly (no delete of an absent element) and leaves exactly the needed paths.
  const ids2 = new PathIds();
  for (const k of plan.kept) ids2.adopt(k.entry, k.mark);
  nft.apply(plan.strayScript + fastPathScript({ add: plan.missing, remove: [] }, ids2));
  assert.equal(nft.size('ip', 'pathid'), n);
  for (const m of ['nsaddr', 'ndaddr', 'nsport', 'ndport']) assert.equal(nft.size('ip', m), n, m);
  const again = planAdoption(kernelOf(nft), [b.svc], 0);
  assert.deepEqual([again.kept.length, again.missing.length, again.stray], [n, 0, 0]);
  assert.equal(parseEntryComment('flb1 d=e a=zz c=1 e=2 p=10.9.0.1'), undefined);
  assert.equal(parseEntryComment('someone else'), undefined);
});

test('comments fit nft’s 128 bytes with IPv6 addresses, a home address and a 32-byte RANDOM', () => {
  const nft = new FakeNft();
  const ids = new PathIds();
  const eng = new SctpNatEngine([V6.svc]);
  establish(eng, V6, nft, ids, AUTH_PARAMS(3), AUTH_PARAMS(4));
  const entries = eng.natEntries();
  for (const e of entries) {
    const c = entryComment(e)!;
    assert.ok(c.length <= COMMENT_MAX, `${c.length}: ${c}`);
    const p = parseEntryComment(c)!;
    assert.equal(p.association, e.association);
  }
  for (const side of ['endpoint', 'client'] as const)
    assert.ok(
      entries.some((e) => e.toward === side && parseEntryComment(entryComment(e))?.vector),
      `no ${side}-bound entry carries its side's key vector`,
    );
});

function addrBytes(a: IpAddr): Uint8Array {
  const n = a.family === 4 ? 4 : 16;
  const b = new Uint8Array(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
}

test('an association adopted while failed over moves back home once its home address is heard', () => {
  const b = V4;
  const nft = new FakeNft();
  const ids = new PathIds();
  const old = new SctpNatEngine([b.svc]);
  establish(old, b, nft, ids, [], []);
  const id = old.associations(3)[0]!.id;
  const returnOf = (eng: SctpNatEngine, vip: IpAddr) =>
    formatIp(
      eng.natEntries().find((e) => e.toward === 'client' && formatIp(e.match.dst) === formatIp(vip))!.rewrite
        .dst,
    );
  assert.equal(returnOf(old, b.V[0]!), formatIp(b.C[0]!), 'the INIT pair is the primary VIP path home');

  // The client's first link dies: the primary VIP's return path goes unanswered and moves to C1.
  old.delivered(id, b.V[0]!, 3, 100);
  old.observe(id, b.C[1]!, 1000, b.V[1]!);
  nft.apply(fastPathScript(old.tick(2000), ids));
  assert.equal(returnOf(old, b.V[0]!), formatIp(b.C[1]!));

  // kill -9 now: the kernel holds the failed-over mapping; the restarted engine adopts it as it is.
  const eng = new SctpNatEngine([b.svc]);
  assert.equal(eng.adopt(planAdoption(kernelOf(nft), [b.svc], 3000).associations), 1);
  assert.equal(returnOf(eng, b.V[0]!), formatIp(b.C[1]!));
  eng.tick(3500);
  assert.equal(returnOf(eng, b.V[0]!), formatIp(b.C[1]!), 'no word from C0 yet: it may still be dead');

  // The fast path's counters show C0 sending again: the path goes home, as without the restart.
  eng.observe(id, b.C[0]!, 4000, b.V[0]!);
  const back = eng.tick(4000);
  assert.equal(returnOf(eng, b.V[0]!), formatIp(b.C[0]!));
  assert.ok(
    back.add.some((e) => formatIp(e.rewrite.dst) === formatIp(b.C[0]!)),
    'written to the kernel',
  );
});
