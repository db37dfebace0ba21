// The node's BGP identifier (issue 14 #2): explicit, else persisted, else derived once from a stable
// node address, never a service address / the VIP interface; 0.0.0.0 and clashes refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToExit } from '../../support/exit.js';
import {
  chooseRouterId,
  deriveRouterId,
  routerIdProblem,
  type DeriveInput,
} from '../../../src/bgp/routerid.js';

const node = (over: Partial<DeriveInput> = {}): DeriveInput => ({
  addresses: [
    { iface: 'lo', address: '127.0.0.1', internal: true },
    { iface: 'ferrolb0', address: '198.18.0.0', internal: false },
    { iface: 'ferrolb0', address: '198.18.0.1', internal: false },
    { iface: 'eth1', address: '169.254.3.4', internal: false },
    { iface: 'eth0', address: '10.77.1.1', internal: false },
    { iface: 'eth2', address: '10.9.0.5', internal: false },
  ],
  towardPeers: [],
  isServiceAddress: (a) => a.startsWith('198.18.') || a === '10.9.0.5',
  peerAddresses: new Set(['10.77.1.2']),
  vipInterface: 'ferrolb0',
  ...over,
});

describe('bgp router id', () => {
  it('derives from a stable node address: never a VIP, ferrolb0, loopback or link-local', () => {
    assert.equal(deriveRouterId(node()), '10.77.1.1');
    // VIPs come and go: the result does not change when they do (the move the issue saw).
    assert.equal(
      deriveRouterId(node({ addresses: node().addresses.filter((a) => a.iface !== 'ferrolb0') })),
      '10.77.1.1',
    );
  });

  it('prefers the source address toward a peer, unless that is a service address', () => {
    const n = node({
      addresses: [...node().addresses, { iface: 'eth3', address: '10.88.0.1', internal: false }],
    });
    assert.equal(deriveRouterId({ ...n, towardPeers: ['10.88.0.1'] }), '10.88.0.1');
    assert.equal(deriveRouterId({ ...n, towardPeers: ['198.18.0.1'] }), '10.77.1.1');
  });

  it('an address on ferrolb0 is never used, even one outside every pool', () => {
    const n = node({
      addresses: [{ iface: 'ferrolb0', address: '10.1.1.1', internal: false }],
      isServiceAddress: () => false,
    });
    assert.equal(deriveRouterId(n), undefined);
  });

  it('explicit > persisted > derived; 0.0.0.0 and a peer address are refused', () => {
    assert.deepEqual(chooseRouterId({ explicit: '10.0.0.9', persisted: '10.0.0.8', derive: node() }), {
      routerId: '10.0.0.9',
      source: 'explicit',
    });
    assert.deepEqual(chooseRouterId({ persisted: '10.0.0.8', derive: node() }), {
      routerId: '10.0.0.8',
      source: 'persisted',
    });
    assert.deepEqual(chooseRouterId({ derive: node() }), { routerId: '10.77.1.1', source: 'derived' });
    const zero = chooseRouterId({ explicit: '0.0.0.0', derive: node() });
    assert.ok('error' in zero && /--router-id: "0\.0\.0\.0": .*RFC 6286/.test(zero.error.message));
    const clash = chooseRouterId({ explicit: '10.77.1.2', derive: node() });
    assert.ok('error' in clash && /clashes/.test(clash.error.message));
  });

  it('a persisted identifier that now clashes is replaced, saying why', () => {
    const c = chooseRouterId({ persisted: '198.18.0.5', derive: node() });
    assert.ok(!('error' in c));
    assert.equal(c.routerId, '10.77.1.1');
    assert.match(c.note ?? '', /inside an address pool/);
  });

  it('no stable address: an error naming the flag, never the shared fallback 0.0.0.1', () => {
    const c = chooseRouterId({ derive: node({ addresses: node().addresses.slice(0, 4) }) });
    assert.ok('error' in c && /--router-id: \(unset\): no stable IPv4 node address/.test(c.error.message));
  });

  it('checks the form', () => {
    assert.equal(routerIdProblem('10.0.0.1'), undefined);
    assert.match(routerIdProblem('::1') ?? '', /dotted-quad/);
    assert.match(routerIdProblem('0.0.0.0') ?? '', /RFC 6286/);
  });
});

describe('bgp router id: --router-id at start', () => {
  it('ferrolb run --router-id 0.0.0.0 is refused before anything starts, naming the flag and value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferrolb-rid-'));
    try {
      const x = await runToExit('ferrolb', [
        'run',
        '--router-id',
        '0.0.0.0',
        '--state-dir',
        dir,
        '--dataplane',
        'off',
        '--probes',
        'off',
        '--bgp-port',
        'off',
        '--api',
        '127.0.0.1:0',
      ]);
      assert.equal(x.code, 1, x.err);
      assert.match(x.err, /--router-id: "0\.0\.0\.0": 0\.0\.0\.0 is not a valid BGP identifier/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
