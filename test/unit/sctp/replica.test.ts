// The replicated association record (HA state sync): round trip of real and generated associations,
// bad input refused with SctpReplicaError naming the field, another version refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IpAddr } from '../../../src/net/ip.js';
import { SctpNatEngine } from '../../../src/sctp/index.js';
import { initialReturnMap, ipKey, type Association } from '../../../src/sctp/engine/association.js';
import {
  SCTP_REPLICA_VERSION,
  SctpReplicaError,
  decodeReplica,
  encodeReplica,
  replicaAssociation,
  replicaKey,
} from '../../../src/sctp/engine/replica.js';
import { PathIds } from '../../../src/sctp/kernel/nft.js';
import { AUTH_PARAMS, ip } from './build.js';
import { V4 as BED, establish } from './establish.js';
import { FakeNft } from './fakenft.js';

function realAssociation(): Association {
  const eng = new SctpNatEngine([BED.svc]);
  establish(eng, BED, new FakeNft(), new PathIds(), AUTH_PARAMS(1), AUTH_PARAMS(2));
  return eng.association(eng.associations(4)[0]!.id) as Association;
}

test('an established association round-trips: same tags, ports, addresses, return paths, homes, AUTH', () => {
  const a = realAssociation();
  const bytes = encodeReplica(a);
  const rep = decodeReplica(bytes);
  assert.equal(rep.key, replicaKey(a));
  const b = replicaAssociation(77, rep, [BED.svc], 1000);
  assert.equal(b.id, 77);
  assert.equal(b.service, BED.svc, 'bound to the local service of that name and port');
  for (const k of ['clientTag', 'endpointTag', 'clientPort', 'lbPort', 'state', 'initiator'] as const)
    assert.deepEqual(b[k], a[k], k);
  assert.deepEqual(b.vips, a.vips);
  assert.deepEqual(b.clientAddrs, a.clientAddrs);
  assert.deepEqual(b.endpointAddrs, a.endpointAddrs);
  assert.deepEqual([...b.returnTo], [...a.returnTo]);
  assert.deepEqual([...b.home], [...a.home]);
  assert.deepEqual([...b.endpointDst], [...a.endpointDst]);
  assert.deepEqual(b.auth, a.auth);
  assert.ok(a.auth.client && a.auth.endpoint, 'both AUTH vectors carried');
  assert.deepEqual(encodeReplica(b), bytes, 'a replica encodes to the same record');
});

test('version skew is refused with a clear error; so is another kind of record', () => {
  const bytes = encodeReplica(realAssociation());
  const skew = bytes.slice();
  skew[1] = SCTP_REPLICA_VERSION + 1;
  assert.throws(
    () => decodeReplica(skew),
    (e: unknown) =>
      e instanceof SctpReplicaError &&
      e.field === 'version' &&
      e.message ===
        `sctp replica record: version: ${SCTP_REPLICA_VERSION + 1} (this node speaks ${SCTP_REPLICA_VERSION})`,
  );
  const other = bytes.slice();
  other[0] = 0x43;
  assert.throws(() => decodeReplica(other), /magic: 0x43 is not an SCTP record/);
});

test('bad input names the field: truncation, trailing bytes, zero tag, inconsistent return path', () => {
  const bytes = encodeReplica(realAssociation());
  assert.throws(() => decodeReplica(bytes.subarray(0, 20)), SctpReplicaError);
  assert.throws(() => decodeReplica(Uint8Array.from([...bytes, 0])), /record: 1 bytes after the end/);
  const zeroTag = bytes.slice();
  zeroTag.fill(0, 4, 8);
  assert.throws(() => decodeReplica(zeroTag), /clientTag: 0/);
  assert.throws(() => decodeReplica(new Uint8Array(0)), /magic: truncated at byte 0/);
  // A return path to an address that is not the client's.
  const a = realAssociation();
  a.returnTo.set(ipKey(a.vips[0]!), ip('10.0.99.9'));
  assert.throws(
    () => decodeReplica(encodeReplica(a)),
    /returnTo\[0\]\.client: 10\.0\.99\.9 is not a client address/,
  );
  const half = realAssociation();
  half.state = 'cookie-wait';
  assert.throws(() => encodeReplica(half), /state: cookie-wait associations are not replicated/);
});

test('every truncation and random corruption is refused with SctpReplicaError or decodes consistently', () => {
  const bytes = encodeReplica(realAssociation());
  for (let n = 0; n < bytes.length; n++)
    assert.throws(() => decodeReplica(bytes.subarray(0, n)), SctpReplicaError);
  fc.assert(
    fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), (at, v) => {
      const b = bytes.slice();
      b[at] = v;
      try {
        const rep = decodeReplica(b);
        // Whatever decodes is a consistent association that encodes back to the same bytes.
        assert.deepEqual(encodeReplica(replicaAssociation(1, rep, [], 0)), b);
      } catch (e) {
        if (!(e instanceof SctpReplicaError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});

const v4 = fc.integer({ min: 1, max: 0xfffffffe }).map((n): IpAddr => ({ family: 4, value: BigInt(n) }));
const v6 = fc.bigInt({ min: 1n, max: (1n << 128n) - 2n }).map((value): IpAddr => ({ family: 6, value }));
const uniqAddrs = (fam: fc.Arbitrary<IpAddr>, max: number) =>
  fc.uniqueArray(fam, { minLength: 1, maxLength: max, selector: (x) => x.value.toString() });

test('generated associations of either family round-trip', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.string({ maxLength: 40 }),
      (six, ct, et, cport, lport, vector, name) => {
        const fam = six ? v6 : v4;
        return fc.assert(
          fc.property(uniqAddrs(fam, 4), uniqAddrs(fam, 4), uniqAddrs(fam, 3), (vips, clients, eps) => {
            const svc = { name, vips, port: 38412, endpoints: [{ addresses: eps, port: 38412 }] };
            const returnTo = initialReturnMap(vips, clients, vips[0]!, clients[0]!);
            const a = {
              ...replicaAssociation(
                1,
                {
                  key: '',
                  state: 'established',
                  initiator: 'client',
                  clientTag: ct,
                  endpointTag: et,
                  clientPort: cport,
                  lbPort: lport,
                  servicePort: 38412,
                  serviceName: name,
                  endpoint: svc.endpoints[0]!,
                  vips,
                  initVip: vips[0]!,
                  clientAddrs: clients,
                  endpointAddrs: eps,
                  endpointDst: [eps[0]!],
                  returnTo,
                  home: returnTo,
                  auth: {
                    ...(vector.length ? { client: vector } : {}),
                    clientHmacs: [1, 3],
                    endpointHmacs: [],
                    clientChunks: [0xc1],
                    endpointChunks: [],
                  },
                },
                [svc],
                0,
              ),
            };
            const rep = decodeReplica(encodeReplica(a));
            assert.equal(rep.key, replicaKey(a));
            assert.deepEqual(encodeReplica(replicaAssociation(9, rep, [svc], 5)), encodeReplica(a));
          }),
          { numRuns: 5 },
        );
      },
    ),
    { numRuns: 60 },
  );
});
