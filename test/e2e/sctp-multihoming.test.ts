// SCTP multihoming through fullNAT, end to end with usrsctp: a client namespace with two links, an LB
// namespace running the engine behind NFQUEUE (once with every packet through userspace, once with the
// nft fast path carrying DATA/SACK/HEARTBEAT and only control chunks queued), an endpoint running
// usrsctp's echo_server. Captures on both sides are decoded with our own codec and searched byte-wise
// for the other side's real addresses. The client's primary link is cut mid-stream and restored; the
// association keeps echoing; after a clean shutdown the LB's path table is empty.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Topology, nsExec, waitFor } from '../support/netns.js';
import {
  assertNeverSeen,
  buildSctpBed,
  capturedPackets,
  collect,
  prepareEngineLb,
  sctpSkipReason,
  startCapture,
  startEngine,
  stopCaptures,
  USRSCTP,
  type Collected,
  SCTP_V4,
  SCTP_V6,
  type SctpPlan,
} from '../support/sctp.js';
import { formatIp } from '../../src/net/ip.js';
import { ChunkType, decodeInit, decodeSctp, initAddresses } from '../../src/sctp/codec/index.js';

const skip = sctpSkipReason(['tcpdump']);

const RUNS: [SctpPlan, boolean][] = [
  [SCTP_V4, false],
  [SCTP_V4, true],
  [SCTP_V6, true],
];
for (const [plan, fastPath] of RUNS)
  describe(
    `sctp e2e: multihoming through fullNAT with usrsctp (IPv${plan.family}, ${fastPath ? 'nft fast path' : 'all through NFQUEUE'})`,
    { skip, timeout: 180_000 },
    () => {
      const VIPS: readonly string[] = plan.vips;
      const topo = new Topology();
      const dir = mkdtempSync(join(tmpdir(), 'ferrolb-sctp-'));
      let cNs = '';
      let lbNs = '';
      let bNs = '';
      let lbDev0 = '';
      let lb: ChildProcess;
      let lbOut: Collected;
      const dumps: ChildProcess[] = [];

      interface PathRow {
        side: string;
        vip: string;
        packets: number;
      }
      const viaVip = (d: { associations: { paths: PathRow[] }[] }, vip: string) =>
        (d.associations[0]?.paths ?? [])
          .filter((p) => p.side === 'client' && p.vip === vip)
          .reduce((n, p) => n + p.packets, 0);
      const dump = async (): Promise<{
        associations: { paths: PathRow[] }[];
        stats: Record<string, unknown>;
      }> => {
        const before = lbOut.lines().length;
        lb.stdin?.write('dump\n');
        const line = await waitFor(
          'LB dump',
          () =>
            lbOut
              .lines()
              .slice(before)
              .find((l) => l.startsWith('{"associations"')),
          5000,
        );
        return JSON.parse(line) as { associations: { paths: PathRow[] }[]; stats: Record<string, unknown> };
      };

      before(async () => {
        let lbDevs: readonly string[];
        ({ c: cNs, lb: lbNs, b: bNs, lbDevs } = await buildSctpBed(topo, plan));
        lbDev0 = lbDevs[0] as string;
        await prepareEngineLb(lbNs, plan, 7);
        ({ proc: lb, out: lbOut } = await startEngine(topo, lbNs, dir, {
          queue: 7,
          fastPath,
          limits: { closeLingerMs: 500 },
          services: [
            { name: 'echo', vips: VIPS, port: 7, endpoints: [{ addresses: [plan.endpoint], port: 7 }] },
          ],
        }));
        dumps.push(startCapture(topo, bNs, join(dir, 'endpoint.pcap')));
        dumps.push(startCapture(topo, cNs, join(dir, 'client.pcap')));
        topo.spawn(bNs, `${USRSCTP}/echo_server`, []);
        await new Promise((r) => setTimeout(r, 1000)); // tcpdump and echo_server have no readiness signal
      });

      after(async () => {
        await topo.cleanup();
        rmSync(dir, { recursive: true, force: true });
      });

      it('echoes across a primary-link cut, leaks no address, and empties the path table on shutdown', async () => {
        const client = topo.spawn(cNs, `${USRSCTP}/client`, [plan.vips[0], '7']);
        const out = collect(client);
        let n = 0;
        // Lines of a batch are written together, then all echoes awaited: after the cut, the client
        // keeps trying its dead primary first and backs its RTO off (1, 2, 4 s ...) until it declares
        // the path down; outstanding chunks go out together on the alternate path at each timeout.
        const send = async (label: string, count: number) => {
          const lines = Array.from({ length: count }, () => `${label}-${n++}`);
          for (const line of lines) client.stdin?.write(`${line}\n`);
          await waitFor(
            `echo of ${lines.join(', ')}`,
            () => (lines.every((l) => out.text().includes(l)) ? true : undefined),
            60_000,
          );
        };
        await send('before', 3);
        const up = await dump();
        assert.equal(up.associations.length, 1);
        // 2 client addresses × 3 VIPs towards the endpoint + 1 endpoint address × 3 VIPs towards the client.
        assert.equal(up.associations[0]?.paths.length, 9);

        // Cut the primary link at the far end (the client keeps its routes and its packets vanish, as
        // with a real link failure). Taking the client's own interface down instead makes usrsctp's
        // sends fail with ENETUNREACH, after which its client stopped sending altogether in our runs.
        await nsExec(lbNs, 'ip', ['link', 'set', lbDev0, 'down']);
        await send('cut', 3);
        // The client moved its DATA to the secondary VIP routed over the surviving link (the engine
        // only sees it when everything goes through userspace; the capture below shows it either way).
        if (!fastPath) {
          const during = await dump();
          assert.ok(
            viaVip(during, plan.vips[1]) >= viaVip(up, plan.vips[1]) + 3,
            `no failover to ${plan.vips[1]}`,
          );
        }
        await nsExec(lbNs, 'ip', ['link', 'set', lbDev0, 'up']);
        await send('restored', 2);

        client.stdin?.end();
        await waitFor('client exit', () => (client.exitCode !== null ? true : undefined), 60_000);
        // usrsctp's client printf()s its notifications (flushed at exit): the service looks multihomed.
        assert.ok(out.text().includes(`Peer addresses: ${VIPS.join(', ')}.`), 'client does not see the VIPs');
        assert.match(out.text(), /SCTP_SHUTDOWN_COMP/);
        let final: Awaited<ReturnType<typeof dump>> | undefined;
        await waitFor(
          'path table empty',
          async () => ((final = await dump()).associations.length === 0 ? true : undefined),
          5000,
        );
        const engineSaw = Number(final?.stats.packets ?? 0);

        await stopCaptures(dumps);
        const check = (file: string, forbidden: readonly string[], side: string) => {
          const pkts = capturedPackets(join(dir, file));
          assert.ok(pkts.length > 10, `${side}: only ${pkts.length} packets captured`);
          assertNeverSeen(pkts, forbidden, side);
          let inits = 0;
          for (const p of pkts) {
            // Address lists a side *receives* (from a VIP) must name VIPs only; its own INIT names itself.
            if (!VIPS.includes(formatIp(p.ip.src))) continue;
            for (const c of decodeSctp(p.payload, { verify: true }).chunks) {
              if (c.type !== ChunkType.INIT && c.type !== ChunkType.INIT_ACK) continue;
              inits++;
              for (const a of initAddresses(decodeInit(c)))
                assert.ok(VIPS.includes(formatIp(a)), `${side}: ${formatIp(a)} in INIT`);
            }
          }
          assert.ok(inits >= 1, `${side}: no INIT/INIT-ACK captured`);
        };
        // Which path carried the traffic: every packet the endpoint exchanged passed the engine when all go
        // through userspace; with the fast path the engine saw only the control packets.
        const atEndpoint = capturedPackets(join(dir, 'endpoint.pcap')).length;
        if (fastPath)
          assert.ok(
            engineSaw > 0 && engineSaw < atEndpoint / 2,
            `engine saw ${engineSaw} of ${atEndpoint} packets`,
          );
        else assert.ok(engineSaw >= atEndpoint, `engine saw ${engineSaw} of ${atEndpoint} packets`);
        check('endpoint.pcap', plan.client, 'endpoint');
        check('client.pcap', [plan.endpoint], 'client');
        const failover = capturedPackets(join(dir, 'client.pcap'))
          .filter((p) => formatIp(p.ip.dst) === plan.vips[1])
          .flatMap((p) => decodeSctp(p.payload).chunks)
          .filter((c) => c.type === ChunkType.DATA).length;
        assert.ok(failover >= 3, `only ${failover} DATA chunks to the secondary VIP`);
      });
    },
  );
