import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { advertisedByService, advertisedChanges } from '../../../src/bgp/announced.js';
import { parsePrefix } from '../../../src/bgp/codec/index.js';
import type { AdvertisedRoute } from '../../../src/bgp/ribout.js';
import type { ServiceAnnouncement } from '../../../src/bgp/plan.js';

const route = (p: string): AdvertisedRoute => ({ prefix: parsePrefix(p), communities: [] });
const svc = (service: string, ...addresses: string[]): ServiceAnnouncement => ({
  service,
  addresses: addresses.map((address) => ({ address, pool: 'p' })),
  activeEndpoints: 1,
});

describe('per-service BGP advertisement history', () => {
  it('maps each service to the routes that carry its addresses, host routes and aggregates alike', () => {
    const m = advertisedByService(
      [svc('a', '192.0.2.1'), svc('b', '198.51.100.7', '2001:db8::7'), svc('c', '203.0.113.1')],
      [route('192.0.2.1/32'), route('198.51.100.0/24'), route('2001:db8::/64')],
    );
    assert.deepEqual(
      [...m],
      [
        ['a', '192.0.2.1/32'],
        ['b', '198.51.100.0/24,2001:db8::/64'],
        ['c', ''],
      ],
    );
  });
  it('reports only services whose prefixes changed; a service no longer planned is left to its own history', () => {
    const before = new Map([
      ['a', '192.0.2.1/32'],
      ['b', '198.51.100.7/32'],
      ['gone', '203.0.113.9/32'],
    ]);
    const after = new Map([
      ['a', '192.0.2.1/32'],
      ['b', ''],
      ['new', '203.0.113.1/32'],
    ]);
    assert.deepEqual(advertisedChanges(before, after), [
      { service: 'b', prefixes: [] },
      { service: 'new', prefixes: ['203.0.113.1/32'] },
    ]);
    assert.deepEqual(advertisedChanges(after, after), []);
  });
});
