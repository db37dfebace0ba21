// Source ranges for the SCTP multihoming engine's services: the engine (NFQUEUE + its raw-priority
// fast path) translates them, ferrolb's table only filters them (a DataplaneGuard). The client uses
// the service port as its own port, so the endpoint's packets to the VIPs look like a client's
// (VIP . sctp . 7): only the endpoint exemption lets the association up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Topology, waitFor } from '../support/netns.js';
import {
  buildSctpBed,
  collect,
  prepareEngineLb,
  sctpSkipReason,
  startEngine,
  USRSCTP,
  type Collected,
  SCTP_V4,
  SCTP_V6,
  type SctpPlan,
} from '../support/sctp.js';
import { Applier } from '../../src/dataplane/applier.js';
import { netnsRunner } from '../../src/dataplane/exec.js';
import type { DataplaneGuard } from '../../src/dataplane/types.js';

const skip = sctpSkipReason();
const QUEUE = 11;

/** Each standard bed, with a range none of its addresses is in. */
const PLANS: readonly (SctpPlan & { readonly outside: string })[] = [
  { ...SCTP_V4, outside: '192.0.2.0/24' },
  { ...SCTP_V6, outside: '2001:db8::/32' },
];

for (const PLAN of PLANS)
  describe(
    `source ranges for the SCTP engine’s services (stateless guard before the fast path, IPv${PLAN.family})`,
    { skip, timeout: 180_000 },
    () => {
      const topo = new Topology();
      const dir = mkdtempSync(join(tmpdir(), 'ferrolb-sctp-src-'));
      let lbNs = '';
      let cNs = '';
      let engine: { proc: ChildProcess; out: Collected };
      let ap: Applier;
      /** Both client addresses (the client is multihomed); the endpoint is allowed implicitly. */
      const inside = PLAN.client.map((a) => `${a}/${PLAN.family === 4 ? 32 : 128}`);
      const guard = (sourceRanges: string[]): DataplaneGuard => ({
        name: 'echo',
        addresses: PLAN.vips,
        ports: [{ port: 7, protocol: 'SCTP' }],
        sourceRanges,
        endpoints: [PLAN.endpoint],
      });
      const dump = async (): Promise<{ associations: unknown[]; stats: { packets?: number } }> => {
        const before = engine.out.lines().length;
        engine.proc.stdin?.write('dump\n');
        const line = await waitFor(
          'engine dump',
          () =>
            engine.out
              .lines()
              .slice(before)
              .find((l) => l.startsWith('{"associations"')),
          5000,
        );
        return JSON.parse(line) as { associations: unknown[]; stats: { packets?: number } };
      };
      const drops = async () =>
        (await ap.sourceRangeDrops()).find((d) => d.family === PLAN.family)?.packets ?? 0;
      /** usrsctp's client from port 7 (the service port) to the primary VIP. */
      const client = () => {
        const p = topo.spawn(cNs, `${USRSCTP}/client`, [PLAN.vips[0], '7', '7']);
        return { p, out: collect(p) };
      };
      const echoed = (c: { out: Collected }, line: string, ms: number) =>
        waitFor(`echo of ${line}`, () => (c.out.text().includes(line) ? true : undefined), ms).then(
          () => true,
          () => false,
        );

      before(async () => {
        const bed = await buildSctpBed(topo, PLAN);
        lbNs = bed.lb;
        cNs = bed.c;
        await prepareEngineLb(lbNs, PLAN, QUEUE);
        engine = await startEngine(topo, lbNs, dir, {
          queue: QUEUE,
          fastPath: true,
          services: [
            { name: 'echo', vips: PLAN.vips, port: 7, endpoints: [{ addresses: [PLAN.endpoint], port: 7 }] },
          ],
        });
        topo.spawn(bed.b, `${USRSCTP}/echo_server`, []);
        await new Promise((r) => setTimeout(r, 500)); // echo_server has no readiness signal
        ap = new Applier({ run: netnsRunner(lbNs), vipInterface: false });
      });

      after(async () => {
        await topo.cleanup();
        rmSync(dir, { recursive: true, force: true });
      });

      it('a client outside the ranges never reaches the engine; inside, it associates; a range removed cuts the association’s DATA; restored, it resumes', async () => {
        await ap.apply([], [guard([PLAN.outside])]);
        const refused = client();
        refused.p.stdin?.write('refused-1\n');
        assert.equal(
          await echoed(refused, 'refused-1', 4000),
          false,
          'no echo for a client outside the ranges',
        );
        const d0 = await dump();
        assert.equal(d0.associations.length, 0);
        assert.equal(d0.stats.packets ?? 0, 0, 'the INITs were dropped before the NFQUEUE');
        assert.ok((await drops()) >= 2, 'INIT retransmissions counted');
        refused.p.kill('SIGKILL');

        const r = await ap.apply([], [guard(inside)]);
        assert.ok(!r.full && r.statements <= 6, `${r.statements} statements`);
        const c = client();
        c.p.stdin?.write('hello-1\n');
        assert.equal(await echoed(c, 'hello-1', 15_000), true, 'echo through the engine');
        assert.equal((await dump()).associations.length, 1);
        const engineSaw = (await dump()).stats.packets ?? 0;
        c.p.stdin?.write('hello-2\nhello-3\n');
        assert.equal(await echoed(c, 'hello-3', 10_000), true);
        assert.ok(
          ((await dump()).stats.packets ?? 0) <= engineSaw + 1,
          'DATA on the fast path, not the queue',
        );

        // Live change: the client is out. Its DATA is dropped before the fast path rewrites it.
        const before = await drops();
        await ap.apply([], [guard([PLAN.outside])]);
        c.p.stdin?.write('cut-1\n');
        assert.equal(await echoed(c, 'cut-1', 4000), false, 'the established association is cut');
        assert.ok((await drops()) > before, 'its packets counted as dropped');

        // Restored: SCTP retransmits and the association carries on.
        await ap.apply([], [guard(inside)]);
        assert.equal(await echoed(c, 'cut-1', 30_000), true, 'retransmitted DATA gets through again');
        // Removing the guard's ranges removes the guard chain: nothing filters any more.
        await ap.apply([], [guard([])]);
        c.p.stdin?.write('open-1\n');
        assert.equal(await echoed(c, 'open-1', 10_000), true);
        assert.equal(
          (await new Applier({ run: netnsRunner(lbNs), vipInterface: false }).plan([], [guard([])]))
            .statements,
          0,
        );
      });
    },
  );
