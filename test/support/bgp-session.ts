// A BGP session as the speaker reports it (GET /api/v1/bgp), for tests of what consumes it.
import type { SessionStatus } from '../../src/bgp/types.js';

export const sessionStatus = (
  peer: string,
  state: SessionStatus['state'],
  extra: Partial<SessionStatus> = {},
): SessionStatus => ({
  peer,
  peerAddress: '192.0.2.1',
  peerAsn: 64512,
  localAsn: 64513,
  state,
  messagesIn: 0,
  messagesOut: 0,
  updatesIn: 0,
  updatesOut: 0,
  prefixesSent: 0,
  prefixesReceived: 0,
  receivedTruncated: false,
  connectFailures: 0,
  families: [],
  skipped: [],
  ...extra,
});
