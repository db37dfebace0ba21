import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatBgpStatus, formatUptime } from '../../../src/bgp/format.js';
import type { BgpStatus } from '../../../src/bgp/types.js';

describe('bgp status text', () => {
  it('renders sessions and routes with every column the issue asks for', () => {
    const st: BgpStatus = {
      sessions: [
        {
          peer: 'tor1',
          peerAddress: '10.0.0.1',
          peerAsn: 64513,
          localAsn: 64512,
          state: 'Established',
          uptimeMs: 3_723_000,
          messagesIn: 12,
          messagesOut: 14,
          updatesIn: 1,
          updatesOut: 3,
          prefixesSent: 2,
          prefixesReceived: 5,
          receivedTruncated: false,
          connectFailures: 0,
          families: ['1/1'],
          bfd: 'Up',
          skipped: [],
          rejected: [],
          routerId: '10.0.0.2',
        },
        {
          peer: 'tor2',
          peerAddress: 'fd00::1',
          peerAsn: 64513,
          localAsn: 64512,
          state: 'Active',
          messagesIn: 0,
          messagesOut: 0,
          updatesIn: 0,
          updatesOut: 0,
          prefixesSent: 0,
          prefixesReceived: 0,
          receivedTruncated: false,
          connectFailures: 4,
          lastError: 'connect failed: ECONNREFUSED',
          families: [],
          skipped: [{ prefix: '2001:db8::1/128', reason: 'IPv6 not negotiated with peer' }],
          rejected: [{ prefix: '192.0.2.1/32', reason: "next hop is the peer's own address" }],
          routerId: '10.0.0.2',
        },
      ],
      routes: [
        {
          prefix: '192.0.2.1/32',
          peers: ['tor1'],
          nextHop: '10.0.0.2',
          nextHops: [{ peer: 'tor1', nextHop: '10.0.0.2' }],
          localPref: 200,
          communities: ['64512:7'],
          largeCommunities: ['1:2:3'],
        },
      ],
    };
    const text = formatBgpStatus(st);
    const lines = text.split('\n');
    assert.match(
      lines[0] ?? '',
      /^PEER\s+ADDRESS\s+AS\s+STATE\s+UPTIME\s+MSG IN\/OUT\s+SENT\s+RCVD\s+BFD\s+LAST ERROR$/,
    );
    assert.match(lines[1] ?? '', /^tor1\s+10\.0\.0\.1\s+64513\s+Established\s+1h2m\s+12\/14\s+2\s+5\s+Up$/);
    assert.match(
      lines[2] ?? '',
      /tor2\s+fd00::1\s+64513\s+Active\s+-\s+0\/0\s+0\s+0\s+-\s+connect failed: ECONNREFUSED$/,
    );
    assert.match(text, /192\.0\.2\.1\/32\s+10\.0\.0\.2\s+200\s+-\s+64512:7,large:1:2:3\s+tor1/);
    assert.match(text, /tor2\s+2001:db8::1\/128\s+skipped\s+IPv6 not negotiated/);
    assert.match(text, /tor2\s+192\.0\.2\.1\/32\s+peer would reject\s+next hop is the peer's own address/);
  });
  it('shows each session its own next hop (issue 14 #8), not the last session one for all', () => {
    const text = formatBgpStatus({
      sessions: [],
      routes: [
        {
          prefix: '192.0.2.9/32',
          peers: ['a', 'b', 'c'],
          nextHops: [
            { peer: 'a', nextHop: '10.1.0.1' },
            { peer: 'b', nextHop: '10.2.0.1' },
            { peer: 'c', nextHop: '10.1.0.1' },
          ],
          communities: [],
          largeCommunities: [],
        },
      ],
    });
    assert.match(text, /192\.0\.2\.9\/32\s+10\.1\.0\.1\s+-\s+-\s+-\s+a,c\n/);
    assert.match(text, /192\.0\.2\.9\/32\s+10\.2\.0\.1\s+-\s+-\s+-\s+b/);
  });
  it('says there are no peers instead of printing two empty tables', () => {
    assert.equal(
      formatBgpStatus({ sessions: [], routes: [] }),
      'No BGP peers configured and no routes advertised.\n',
    );
  });
  it('formats uptimes compactly', () => {
    assert.deepEqual(
      [formatUptime(5_000), formatUptime(65_000), formatUptime(90_061_000), formatUptime(undefined)],
      ['5s', '1m5s', '1d1h', '-'],
    );
  });
});
