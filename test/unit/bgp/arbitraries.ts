// fast-check generators for BGP messages, shared by the codec property and fuzz tests.
import fc from 'fast-check';
import type {
  BgpMessage,
  Capability,
  PathAttributes,
  Prefix,
  UpdateMessage,
} from '../../../src/bgp/codec/index.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const prefixArb = (family: 4 | 6, addPath = false): fc.Arbitrary<Prefix> =>
  fc
    .tuple(
      fc.bigInt({ min: 0n, max: (1n << (family === 4 ? 32n : 128n)) - 1n }),
      fc.integer({ min: 0, max: family === 4 ? 32 : 128 }),
      u32,
    )
    .map(([a, len, id]) => {
      const w = BigInt(family === 4 ? 32 : 128);
      const host = w - BigInt(len);
      const addr = (a >> host) << host;
      return addPath ? { family, addr, len, pathId: id } : { family, addr, len };
    });

export const capabilityArb: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({
    kind: fc.constant('multiprotocol' as const),
    afi: fc.integer({ min: 0, max: 0xffff }),
    safi: fc.integer({ min: 0, max: 255 }),
  }),
  fc.constant({ kind: 'route-refresh' as const }),
  fc.constant({ kind: 'enhanced-route-refresh' as const }),
  fc.record({ kind: fc.constant('four-octet-as' as const), asn: u32 }),
  fc.record({
    kind: fc.constant('graceful-restart' as const),
    restarting: fc.boolean(),
    notification: fc.boolean(),
    restartTimeSec: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(
      fc.record({
        afi: fc.integer({ min: 0, max: 0xffff }),
        safi: fc.integer({ min: 0, max: 255 }),
        forwardingPreserved: fc.boolean(),
      }),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    kind: fc.constant('add-path' as const),
    families: fc.array(
      fc.record({
        afi: fc.integer({ min: 0, max: 0xffff }),
        safi: fc.integer({ min: 0, max: 255 }),
        mode: fc.constantFrom('receive' as const, 'send' as const, 'both' as const),
      }),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    kind: fc.constant('unknown' as const),
    code: fc.integer({ min: 128, max: 255 }),
    value: fc.uint8Array({ maxLength: 8 }),
  }),
);

const segArb = fc.record({
  type: fc.constantFrom(
    'set' as const,
    'sequence' as const,
    'confed-sequence' as const,
    'confed-set' as const,
  ),
  asns: fc.array(u32, { minLength: 1, maxLength: 6 }),
});

export const baseAttrsArb: fc.Arbitrary<PathAttributes> = fc.record(
  {
    origin: fc.constantFrom('igp' as const, 'egp' as const, 'incomplete' as const),
    asPath: fc.array(segArb, { maxLength: 3 }),
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true),
    aggregator: fc.record({ asn: u32, address: fc.bigInt({ min: 0n, max: 0xffffffffn }) }),
    communities: fc.array(u32, { minLength: 1, maxLength: 5 }),
    largeCommunities: fc.array(fc.record({ global: u32, local1: u32, local2: u32 }), {
      minLength: 1,
      maxLength: 4,
    }),
  },
  { requiredKeys: ['origin', 'asPath'] },
);

export const updateArb = (addPath: boolean): fc.Arbitrary<UpdateMessage> =>
  fc.oneof(
    fc.record({
      type: fc.constant('update' as const),
      withdrawn: fc.array(prefixArb(4, addPath), { maxLength: 20 }),
      attributes: fc
        .tuple(baseAttrsArb, fc.bigInt({ min: 0n, max: 0xffffffffn }))
        .map(([a, nh]) => ({ ...a, nextHop: nh })),
      nlri: fc.array(prefixArb(4, addPath), { minLength: 1, maxLength: 20 }),
    }),
    fc.record({
      type: fc.constant('update' as const),
      withdrawn: fc.constant([]),
      attributes: fc
        .tuple(
          baseAttrsArb,
          fc.array(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), { minLength: 1, maxLength: 2 }),
          fc.array(prefixArb(6, addPath), { minLength: 1, maxLength: 20 }),
          fc.array(prefixArb(6, addPath), { maxLength: 20 }),
        )
        .map(([a, nhs, nlri, wd]) => ({
          ...a,
          mpReach: { afi: 2, safi: 1, nextHops: nhs, nlri },
          ...(wd.length > 0 ? { mpUnreach: { afi: 2, safi: 1, withdrawn: wd } } : {}),
        })),
      nlri: fc.constant([]),
    }),
  );

export const messageArb = (addPath = false): fc.Arbitrary<BgpMessage> =>
  fc.oneof(
    fc
      .record({
        type: fc.constant('open' as const),
        version: fc.constant(4),
        asn: fc.integer({ min: 1, max: 0xffff }),
        holdTimeSec: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
        bgpId: fc.integer({ min: 1, max: 0xffffffff }),
        capabilities: fc.array(capabilityArb, { maxLength: 6 }),
      })
      .map((o) => {
        const four = o.capabilities.find((c) => c.kind === 'four-octet-as');
        return { ...o, asn2: o.asn, asn: four && four.kind === 'four-octet-as' ? four.asn : o.asn };
      }),
    updateArb(addPath),
    fc.constant({ type: 'keepalive' as const }),
    fc.record({
      type: fc.constant('notification' as const),
      code: fc.integer({ min: 1, max: 7 }),
      subcode: fc.integer({ min: 0, max: 255 }),
      data: fc.uint8Array({ maxLength: 30 }),
    }),
    fc.record({
      type: fc.constant('route-refresh' as const),
      afi: fc.integer({ min: 0, max: 0xffff }),
      safi: fc.integer({ min: 0, max: 255 }),
      subtype: fc.integer({ min: 0, max: 2 }),
    }),
  );
