// A bulk apply must not disturb timing-critical protocols: during one `ferroctl apply -f` of 2,000
// services through a real `ferrolb run`, BIRD (BFD 100 ms × 3) sees no BGP or BFD session reset, the
// probed service's route is never withdrawn (its endpoint's 50 ms-timeout probe never fails), and the
// routes stay. Everything is read from BIRD's own state and ferroctl, not from ferrolb's logs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason } from '../support/netns.js';
import { runBfdLoad } from '../support/bfd-load.js';

const skip = e2eSkipReason();

describe('BFD, BGP and probes under a bulk apply (real BIRD2)', { skip, timeout: 600_000 }, () => {
  it('2,000 services applied at once: no session reset at BIRD, the probed endpoint stays active', async () => {
    const r = await runBfdLoad({ services: 2000 });
    const why = JSON.stringify(
      {
        before: Object.fromEntries(r.before.protocols),
        after: Object.fromEntries(r.after.protocols),
        bfdBefore: Object.fromEntries(r.before.bfd),
        bfdAfter: Object.fromEntries(r.after.bfd),
        route: [r.before.probedRoute, r.after.probedRoute],
      },
      null,
      1,
    );
    assert.equal(r.before.protocols.size, 2, why);
    assert.equal(r.bgpResets, 0, `BGP sessions reset at BIRD: ${why}`);
    assert.equal(r.bfdResets, 0, `BFD sessions reset at BIRD: ${why}`);
    for (const v of r.after.protocols.values()) assert.match(v, /^up .*Established/);
    for (const v of r.after.bfd.values()) assert.match(v, /^Up /);
    assert.equal(r.probedRouteChanged, false, `the probed route was withdrawn or replaced: ${why}`);
    assert.equal(r.probedEndpointState, 'active');
    assert.ok(r.routesAtBird >= 2001, `routes at BIRD: ${r.routesAtBird}`);
    console.log(
      `# ${r.services} services: apply ${r.applyMs} ms, BFD max gap ${JSON.stringify(r.maxGapMs)} ms (${r.maxGapOverInterval} × interval), /healthz p99 ${r.healthz.p99Ms} ms`,
    );
  });
});
