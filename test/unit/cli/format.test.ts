// ferroctl's pure formatting: byte units, per-port counters in -o wide, announcement reading.
import test from 'node:test';
import assert from 'node:assert/strict';
import { humanBytes, loadBalancerTable } from '../../../src/cli/format.js';
import { announcementOf, notAnnounced } from '../../../src/cli/announce.js';
import { withCounters, type LoadBalancerView } from '../../../src/state/views.js';
import type { L2View } from '../../../src/l2/view.js';

test('humanBytes: binary units, three significant digits', () => {
  assert.equal(humanBytes(0), '0B');
  assert.equal(humanBytes(1023), '1023B');
  assert.equal(humanBytes(1024), '1.00KiB');
  assert.equal(humanBytes(26784), '26.2KiB');
  assert.equal(humanBytes(300 * 1024 * 1024), '300MiB');
  assert.equal(humanBytes(5 * 1024 ** 5), '5.00PiB');
});

const view: LoadBalancerView = {
  name: 'web',
  namespace: 'default',
  addresses: ['192.0.2.1'],
  secondaryAddresses: [],
  pool: 'p',
  ports: [
    { port: 80, protocol: 'TCP', targetPort: 8080 },
    { port: 443, protocol: 'TCP', targetPort: 8443 },
  ],
  mode: 'default',
  algorithm: 'roundrobin',
  healthCheck: 'none',
  sourceRanges: [],
  endpoints: [80, 443].map((p) => ({
    address: '10.0.0.1',
    port: p + 8000,
    servicePort: p,
    protocol: 'TCP',
    weight: 1,
    state: 'active' as const,
  })),
  status: { phase: 'Allocated' },
};

test('-o wide: PACKETS and BYTES per port row, not the endpoint total repeated', () => {
  const [lb] = withCounters(
    [view],
    [
      {
        service: 'web',
        packets: 300,
        bytes: 3000 + 40960,
        endpoints: [
          {
            address: '10.0.0.1',
            packets: 300,
            bytes: 43960,
            ports: [
              { port: 80, protocol: 'TCP', packets: 100, bytes: 3000 },
              { port: 443, protocol: 'TCP', packets: 200, bytes: 40960 },
            ],
          },
        ],
      },
    ],
  );
  const t = loadBalancerTable([lb!], 'wide');
  const col = (h: string) => t.headers.indexOf(h);
  assert.ok(col('PACKETS') > 0 && col('BYTES') === col('PACKETS') + 1);
  assert.deepEqual(
    t.rows.map((r) => [r[col('PORT')], r[col('PACKETS')], r[col('BYTES')]]),
    [
      ['80', '100', '2.93KiB'],
      ['443', '200', '40.0KiB'],
    ],
  );
});

test('announcementOf/notAnnounced: planned BGP prefix without peers, L2 owner', () => {
  const bgp = { sessions: [], routes: [], planned: ['192.0.2.0/24'], notes: [] };
  const a = announcementOf('192.0.2.1', bgp);
  assert.deepEqual(a.bgp, { prefix: '192.0.2.0/24', peers: [] });
  assert.match(notAnnounced(a) ?? '', /not sent to any BGP peer/);
  const sent = {
    ...bgp,
    routes: [{ prefix: '192.0.2.0/24', peers: ['r1'], nextHops: [], communities: [], largeCommunities: [] }],
  };
  assert.equal(notAnnounced(announcementOf('192.0.2.1', sent)), undefined);
  assert.equal(announcementOf('198.51.100.1', sent).bgp, undefined, 'not selected: nothing to wait for');
  const l2 = (owner: string | null): L2View => ({
    configured: true,
    running: true,
    items: [
      {
        address: '192.0.2.1',
        owner,
        interfaces: [],
        since: 0,
        state: owner ? 'standby' : 'unowned',
        eligible: [],
      },
    ],
  });
  assert.match(notAnnounced(announcementOf('192.0.2.1', undefined, l2(null))) ?? '', /no Layer 2 owner/);
  assert.equal(notAnnounced(announcementOf('192.0.2.1', undefined, l2('node-b'))), undefined);
});
