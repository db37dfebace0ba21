// The serving metric families, fed by fake component status: every BGP/BFD session, SCTP
// association/path and endpoint counter appears with the right labels and value.
import test from 'node:test';
import assert from 'node:assert/strict';
import { ServingRegistry } from '../../../src/shell/metrics.js';
import { registerServingMetrics } from '../../../src/roles/metrics.js';
import { emptySnapshot } from '../../../src/state/snapshot.js';
import type { SessionStatus } from '../../../src/bgp/types.js';
import type { SctpStatus } from '../../../src/shell/sctp.js';
import type { AssociationView } from '../../../src/sctp/engine/types.js';
import { sample } from '../../support/metrics.js';

const session = (peer: string, state: SessionStatus['state'], bfd?: string): SessionStatus => ({
  peer,
  peerAddress: `192.0.2.${peer.length}`,
  peerAsn: 65001,
  localAsn: 65000,
  state,
  messagesIn: 10,
  messagesOut: 11,
  updatesIn: 3,
  updatesOut: 4,
  prefixesSent: 7,
  prefixesReceived: 1,
  receivedTruncated: false,
  connectFailures: 2,
  families: ['ipv4-unicast'],
  ...(bfd ? { bfd } : {}),
  skipped: [],
});

const assoc = (service: string, paths: AssociationView['paths']): AssociationView =>
  ({ id: 1, service, state: 'established', paths }) as unknown as AssociationView;

test('BGP, BFD, SCTP and traffic families carry each session, association and endpoint', async () => {
  const r = new ServingRegistry();
  registerServingMetrics(r, {
    snapshot: emptySnapshot,
    endpointState: () => undefined,
    onVerdict: () => undefined,
    bgp: () => ({
      sessions: [
        session('tor1', 'Established', 'Up'),
        session('tor22', 'Active', 'Down'),
        session('x', 'Idle'),
      ],
      routes: [],
    }),
    sctp: async () =>
      ({
        associations: [
          assoc('n2', [
            { side: 'client', state: 'active' },
            { side: 'client', state: 'standby' },
            { side: 'endpoint', state: 'active' },
          ] as unknown as AssociationView['paths']),
          assoc('n2', []),
        ],
      }) as unknown as SctpStatus,
    counters: async () => [
      {
        service: 'web',
        packets: 100,
        bytes: 9000,
        ports: [],
        endpoints: [
          { address: '10.0.0.1', packets: 60, bytes: 5000 },
          { address: '10.0.0.2', packets: 40, bytes: 4000 },
        ],
      },
    ],
  });
  const text = await r.metrics();
  const peer = (p: string) => ({ peer: p, peer_address: `192.0.2.${p.length}` });
  assert.equal(sample(text, 'ferrolb_bgp_session_up', peer('tor1')), 1);
  assert.equal(sample(text, 'ferrolb_bgp_session_up', peer('tor22')), 0);
  assert.equal(sample(text, 'ferrolb_bgp_announced_prefixes', peer('tor1')), 7);
  assert.equal(sample(text, 'ferrolb_bgp_updates_sent_total', peer('tor1')), 4);
  assert.equal(sample(text, 'ferrolb_bgp_connect_failures_total', peer('x')), 2);
  assert.equal(sample(text, 'ferrolb_bfd_session_up', peer('tor1')), 1);
  assert.equal(sample(text, 'ferrolb_bfd_session_up', peer('tor22')), 0);
  assert.equal(sample(text, 'ferrolb_bfd_session_up', peer('x')), undefined, 'no BFD, no series');
  assert.equal(sample(text, 'ferrolb_sctp_associations', { service: 'n2', state: 'established' }), 2);
  assert.equal(sample(text, 'ferrolb_sctp_paths', { service: 'n2', side: 'client', state: 'active' }), 1);
  assert.equal(sample(text, 'ferrolb_sctp_paths', { service: 'n2', side: 'endpoint', state: 'active' }), 1);
  assert.equal(sample(text, 'ferrolb_service_bytes_total', { service: 'web' }), 9000);
  assert.equal(sample(text, 'ferrolb_endpoint_packets_total', { service: 'web', endpoint: '10.0.0.2' }), 40);
});
