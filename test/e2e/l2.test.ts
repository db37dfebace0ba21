// Layer 2 announcement against real kernels and real probes: 3 LB namespaces and a client on one
// bridge; the KernelAnnouncer runs in each LB (in a worker thread, via the harness) with a fixed
// owned set (the election is the cluster's part). Asserts who answers (arping, the client's own
// neighbour resolution, tshark on the bridge) and that client TCP reaches the owner.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, nsExec, waitFor } from '../support/netns.js';
import { L2Bed, type Harness } from '../support/l2.js';
import type { L2Candidate } from '../../src/cluster/contract.js';

const skip = e2eSkipReason();
const V4 = '10.79.0.100';
const V6 = 'fd79::100';
const MANY = Array.from({ length: 100 }, (_, i) => `10.79.1.${i + 1}`);
const NODES = ['lb1', 'lb2', 'lb3'];
const cand = (address: string, interfaces: string[] = []): L2Candidate => ({
  address,
  interfaces,
  nodes: NODES,
});

describe('Layer 2 announcer (netns)', { skip, concurrency: false }, () => {
  const bed = new L2Bed();
  const h: Harness[] = [];
  const all = [cand(V4), cand(V6), ...MANY.map((a) => cand(a))];

  before(async () => {
    await bed.build(3, [V4, V6, ...MANY]);
    for (const lb of bed.lbs) {
      const x = await bed.harness(lb);
      h.push(x);
      await x.candidates(all);
    }
  });
  after(() => bed.cleanup());

  it('before any owner: nobody answers ARP or NDP for a candidate (non-owners are silent)', async () => {
    assert.deepEqual(await bed.arpingMacs(V4), []);
    await assert.rejects(nsExec(bed.client, 'ping', ['-c', '1', '-W', '1', V6]));
  });

  it('only the owner answers ARP and NS, and client TCP reaches it (IPv4 and IPv6)', async () => {
    const [lb1] = bed.lbs;
    await h[0]!.own({ [V4]: [], [V6]: [] });
    await h[1]!.own({});
    await h[2]!.own({});
    const cap = await bed.capture('owner');
    assert.deepEqual(await bed.arpingMacs(V4, 3), [lb1!.mac]);
    await nsExec(bed.client, 'ip', ['-6', 'neigh', 'flush', 'dev', bed.clientDev]);
    await nsExec(bed.client, 'ping', ['-c', '1', '-W', '2', V6]);
    assert.equal(await bed.clientNeigh(V6), lb1!.mac);
    assert.equal(await bed.tcp(V4), 'lb1');
    assert.equal(await bed.tcp(V6), 'lb1');
    const frames = await cap.stop();
    const arpAnswers = new Set(
      frames.filter((f) => f.kind === 'arp-reply' && f.sender === V4).map((f) => f.src),
    );
    const naAnswers = new Set(
      frames.filter((f) => f.kind === 'na' && f.sender === V6 && f.solicited).map((f) => f.src),
    );
    assert.deepEqual([...arpAnswers], [lb1!.mac]);
    assert.deepEqual([...naAnswers], [lb1!.mac]);
    const st = (await h[0]!.status()).filter((s) => s.address === V4 || s.address === V6);
    assert.deepEqual(
      st.map((s) => [s.address, s.state, s.interfaces]),
      [
        [V4, 'announcing', [lb1!.dev]],
        [V6, 'announcing', [lb1!.dev]],
      ],
    );
  });

  it('owner SIGKILL → takeover: GARP/NA burst from the new owner, the client cache follows, TCP works; the dead node falls silent', async () => {
    const [lb1, lb2] = bed.lbs;
    assert.equal(await bed.clientNeigh(V4), lb1!.mac);
    const cap = await bed.capture('takeover');
    await h[0]!.kill();
    const t0 = Date.now();
    await h[1]!.own({ [V4]: [], [V6]: [] });
    // Without any client action, the burst moved the client's entries to the new owner.
    await waitFor(
      'client ARP entry → lb2',
      async () => ((await bed.clientNeigh(V4)) === lb2!.mac ? true : undefined),
      2000,
      20,
    );
    await waitFor(
      'client NDP entry → lb2',
      async () => ((await bed.clientNeigh(V6)) === lb2!.mac ? true : undefined),
      2000,
      20,
    );
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(await bed.tcp(V4), 'lb2');
    assert.equal(await bed.tcp(V6), 'lb2');
    await new Promise((r) => setTimeout(r, 3200)); // the rest of the burst (0, 0.2, 0.6, 1.4, 3 s)
    const frames = await cap.stop();
    const garpReq = frames.filter(
      (f) => f.kind === 'arp-request' && f.src === lb2!.mac && f.sender === V4 && f.target === V4,
    );
    const garpRep = frames.filter(
      (f) => f.kind === 'arp-reply' && f.src === lb2!.mac && f.sender === V4 && f.target === V4,
    );
    const na = frames.filter(
      (f) => f.kind === 'na' && f.src === lb2!.mac && f.sender === V6 && f.override && !f.solicited,
    );
    assert.equal(garpReq.length, 5, 'burst: 5 gratuitous requests');
    assert.equal(garpRep.length, 5, 'burst: 5 gratuitous replies');
    assert.equal(na.length, 5, 'burst: 5 unsolicited NAs with Override');
    // The dead announcer's owned set expires (liveness 5 s): then its kernel no longer answers.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 5500 - Date.now())));
    assert.deepEqual(await bed.arpingMacs(V4, 3), [lb2!.mac]);
  });

  it('100 addresses spread over two nodes: each answered by exactly its owner', async () => {
    const [, lb2, lb3] = bed.lbs;
    const mine2 = Object.fromEntries([V4, V6, ...MANY.filter((_, i) => i % 2 === 0)].map((a) => [a, []]));
    const mine3 = Object.fromEntries(MANY.filter((_, i) => i % 2 === 1).map((a) => [a, []]));
    await h[1]!.own(mine2);
    await h[2]!.own(mine3);
    // arping prints every reply: a second node answering shows up as a second MAC.
    const answers = new Map<string, string[]>();
    for (let i = 0; i < MANY.length; i += 10)
      await Promise.all(MANY.slice(i, i + 10).map(async (a) => answers.set(a, await bed.arpingMacs(a, 2))));
    MANY.forEach((a, i) => assert.deepEqual(answers.get(a), [i % 2 === 0 ? lb2!.mac : lb3!.mac], a));
  });

  it('an interface that does not exist fails that address only, and works once it appears', async () => {
    const [, lb2] = bed.lbs;
    const X = MANY[0]!;
    await h[1]!.candidates([...all.filter((c) => c.address !== X), cand(X, ['l2late0'])]);
    await h[1]!.own({ [V4]: [], [V6]: [], [X]: ['l2late0'] });
    const st = await h[1]!.status();
    const x = st.find((s) => s.address === X)!;
    assert.equal(x.state, 'failed');
    assert.match(x.error ?? '', /l2late0 not present/);
    assert.equal(st.find((s) => s.address === V4)?.state, 'announcing');
    assert.deepEqual(await bed.arpingMacs(X), [], 'not answered on the other interface');
    await nsExec(lb2!.ns, 'ip', ['link', 'add', 'l2late0', 'type', 'veth', 'peer', 'name', 'l2late1']);
    await nsExec(lb2!.ns, 'ip', ['link', 'set', 'l2late0', 'up']);
    await nsExec(lb2!.ns, 'ip', ['link', 'set', 'l2late1', 'up']);
    await waitFor(
      'l2late0 picked up',
      async () =>
        (await h[1]!.status()).find((s) => s.address === X)?.state === 'announcing' ? true : undefined,
      5000,
      100,
    );
    await h[1]!.candidates(all);
    await h[1]!.own({ [V4]: [], [V6]: [] });
  });

  it('drift is repaired: a flushed candidate set on a non-owner, a deleted table', async () => {
    const [, lb2, lb3] = bed.lbs;
    await nsExec(lb3!.ns, 'nft', ['flush', 'set', 'arp', 'ferrolb_l2', 'cand4']);
    await nsExec(lb2!.ns, 'nft', ['delete', 'table', 'arp', 'ferrolb_l2']);
    await waitFor(
      'repaired',
      async () => {
        const s = await nsExec(lb3!.ns, 'nft', ['list', 'set', 'arp', 'ferrolb_l2', 'cand4']);
        const t = await nsExec(lb2!.ns, 'nft', ['list', 'set', 'arp', 'ferrolb_l2', 'owned_any4']).catch(
          () => '',
        );
        return s.includes(V4) && t.includes(V4) ? true : undefined;
      },
      5000,
      100,
    );
    assert.deepEqual(await bed.arpingMacs(V4, 3), [lb2!.mac]);
  });

  it('restart adopts: a new announcer process keeps answering before the election speaks', async () => {
    const [, lb2] = bed.lbs;
    await h[1]!.kill();
    h[1] = await bed.harness(lb2!);
    await h[1]!.candidates(all);
    assert.deepEqual(await bed.arpingMacs(V4, 2), [lb2!.mac]);
    await new Promise((r) => setTimeout(r, 5500)); // longer than the liveness timeout: still answered
    assert.deepEqual(await bed.arpingMacs(V4, 2), [lb2!.mac]);
    const st = await h[1]!.status();
    assert.equal(st.find((s) => s.address === V4)?.state, 'announcing');
  });

  it('two nodes that both believe they own an address (2-node split): the lower MAC keeps it, the other yields', async () => {
    const [, lb2, lb3] = bed.lbs;
    const X = MANY[1]!; // lb3 owns it
    await h[1]!.own({ [V4]: [], [V6]: [], [X]: [] });
    const low = [lb2!.mac, lb3!.mac].sort()[0]!;
    const loser = low === lb2!.mac ? h[2]! : h[1]!;
    await waitFor(
      'the higher MAC to yield',
      async () =>
        (await loser.status()).find((s) => s.address === X)?.error?.includes('duplicate') ? true : undefined,
      20_000,
      200,
    );
    const winner = low === lb2!.mac ? h[1]! : h[2]!;
    assert.equal((await winner.status()).find((s) => s.address === X)?.state, 'announcing');
    assert.equal((await loser.status()).find((s) => s.address === X)?.state, 'failed');
    assert.deepEqual(await bed.arpingMacs(X, 3), [low]);
  });
});
