// Full kernel verification against a real table: drift no monitor event names (a foreign chain added,
// an element's value changed in place, a rule inserted) is found by the verification (JSON parse and
// comparison in a worker thread), repaired from its hints, and traffic works again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, Topology } from '../support/netns.js';
import { Applier } from '../../src/dataplane/applier.js';
import { buildLbTopology, httpBatch, VIP4, webService } from './support-dataplane/topo.js';

const skip = e2eSkipReason();

describe('full verification', { skip }, () => {
  it('finds what events would not name, and the repair converges to the compiled state', async () => {
    const topo = new Topology();
    try {
      const t = await buildLbTopology(topo, {});
      const ap = new Applier({ run: t.run });
      const web = webService(t, { addresses: [VIP4] });
      await ap.apply([web]);
      assert.deepEqual(await ap.verify(), { drift: [], hints: [], stale: false });
      const script = [
        'add chain inet ferrolb intruder',
        `delete element inet ferrolb svc4 { ${VIP4} . tcp . 80 }`,
        `add element inet ferrolb svc4 { ${VIP4} . tcp . 80 : drop }`,
        'insert rule inet ferrolb prerouting ip saddr 10.201.1.2 drop',
      ].join('\n');
      const r = await t.run('nft', ['-f', '-'], script + '\n');
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await httpBatch(t, VIP4, 80, 2)).replies.length, 0, 'broken');
      const v = await ap.verify();
      assert.deepEqual(v.drift, ['rule', 'element', 'foreign']);
      await ap.absorb(v.hints);
      const fix = await ap.repair();
      assert.ok(fix.statements > 0);
      const b = await httpBatch(t, VIP4, 80, 3);
      assert.equal(b.errors, 0);
      assert.equal(b.replies.length, 3);
      assert.deepEqual(await ap.verify(), { drift: [], hints: [], stale: false });
      assert.equal(
        (await new Applier({ run: t.run }).plan([web])).statements,
        0,
        'exactly the compiled state',
      );
    } finally {
      await topo.cleanup();
    }
  });
});
