import test from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  dataplaneGuards,
  dataplaneServices,
  isMultihomedSctp,
  sctpServices,
} from '../../../src/shell/bridge.js';
import { SctpShell } from '../../../src/shell/sctp.js';
import type { Runtime } from '../../../src/shell/runtime.js';
import { buildSnapshot, type Snapshot } from '../../../src/state/snapshot.js';
import type { RawObject } from '../../../src/model/types.js';
import { NativeUnavailableError } from '../../../src/sctp/index.js';
import { formatIp } from '../../../src/net/ip.js';

const objects: RawObject[] = [
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'IPAddressPool',
    metadata: { name: 'p' },
    spec: { addresses: ['10.0.0.0/28'] },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'multi' },
    spec: {
      addresses: ['10.0.0.1'],
      secondaryAddresses: ['10.0.0.2', '10.0.0.3'],
      ports: [
        { port: 7, protocol: 'SCTP' },
        { port: 38412, protocol: 'SCTP', targetPort: 38413 },
      ],
      mode: 'fullnat',
      endpoints: [{ address: '10.1.0.1' }, { address: '10.1.0.2' }],
      healthCheck: { type: 'tcp', port: 7 },
    },
  },
  {
    apiVersion: 'ferrolb.io/v1',
    kind: 'LoadBalancer',
    metadata: { name: 'single' },
    spec: {
      addresses: ['10.0.0.4'],
      ports: [{ port: 7, protocol: 'SCTP' }],
      mode: 'fullnat',
      endpoints: [{ address: '10.1.0.3' }],
    },
  },
];

function snap(objs = objects): Snapshot {
  const t = buildSnapshot(
    objs.map((object) => ({ origin: 'file' as const, object })),
    new Map(),
    1,
  );
  assert.ok(t.ok);
  return t.next;
}

test('multihomed SCTP services stay out of the nft data plane; single-homed SCTP stays in', () => {
  const s = snap();
  assert.equal(s.status.get('multi')?.phase, 'Allocated');
  const lb = s.state.loadBalancers.get('multi');
  assert.ok(lb && isMultihomedSctp(lb, s.allocations.get('multi')?.secondaryAddresses ?? []));
  assert.deepEqual(
    dataplaneServices(s, () => undefined).map((x) => x.name),
    ['single'],
  );
});

test('sourceRanges: nft services carry them; engine services get a guard on every address and SCTP port', () => {
  const ranged = objects.map((o) =>
    o.kind === 'LoadBalancer'
      ? { ...o, spec: { ...(o.spec as object), sourceRanges: ['192.0.2.0/24', '2001:db8::/32'] } }
      : o,
  );
  const s = snap(ranged);
  assert.deepEqual(
    dataplaneServices(s, () => undefined).map((x) => [x.name, x.sourceRanges]),
    [['single', ['192.0.2.0/24', '2001:db8::/32']]],
  );
  assert.deepEqual(dataplaneGuards(s), [
    {
      name: 'multi',
      addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      ports: [
        { port: 7, protocol: 'SCTP' },
        { port: 38412, protocol: 'SCTP' },
      ],
      sourceRanges: ['192.0.2.0/24', '2001:db8::/32'],
      endpoints: ['10.1.0.1', '10.1.0.2'],
    },
  ]);
  // No ranges, no guard (and no sourceRanges field for the nft service).
  assert.deepEqual(dataplaneGuards(snap()), []);
  assert.equal(dataplaneServices(snap(), () => undefined)[0]?.sourceRanges, undefined);
});

test('engine services: one per SCTP port, primary VIP first, only active endpoints', () => {
  const s = snap();
  const svcs = sctpServices(s, (svc, addr) =>
    svc === 'multi' && addr === '10.1.0.1' ? 'active' : undefined,
  );
  assert.deepEqual(
    svcs.map((x) => ({
      name: x.name,
      port: x.port,
      vips: x.vips.map(formatIp),
      endpoints: x.endpoints.map((e) => ({ addresses: e.addresses.map(formatIp), port: e.port })),
    })),
    [
      {
        name: 'multi',
        port: 7,
        vips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
        endpoints: [{ addresses: ['10.1.0.1'], port: 7 }],
      },
      {
        name: 'multi',
        port: 38412,
        vips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
        endpoints: [{ addresses: ['10.1.0.1'], port: 38413 }],
      },
    ],
  );
  // With a probe configured and no verdict yet, nobody takes new associations.
  assert.deepEqual(
    sctpServices(s, () => undefined).map((x) => x.endpoints.length),
    [0, 0],
  );
});

function fakes(s: Snapshot) {
  const logs: { level: string; msg: string }[] = [];
  const rt = Object.assign(new EventEmitter(), {
    snapshot: s,
    endpointState: () => undefined,
  }) as unknown as Runtime;
  const calls: string[] = [];
  const run = (cmd: string, args: readonly string[]) => {
    calls.push([cmd, ...args].join(' '));
    return Promise.resolve({ code: 1, stdout: '', stderr: 'not in unit tests' });
  };
  return { logs, rt, calls, run };
}

test('without the addon: a clear error naming it, nothing installed, nothing to remove', async () => {
  const f = fakes(snap());
  const s2 = new SctpShell({
    runtime: f.rt,
    log: fakeLog(f.logs),
    kernel: true,
    run: f.run,
    loadIo: () => {
      throw new NativeUnavailableError(['/x/ferrolb_nfqueue.node']);
    },
  });
  await s2.start();
  const st = s2.status();
  assert.equal(st.running, false);
  assert.match(st.error ?? '', /ferrolb_nfqueue\.node/);
  assert.deepEqual(st.services, ['multi']);
  assert.deepEqual(st.associations, []);
  assert.ok(
    f.logs.some((l) => l.level === 'error' && /NOT carried.*ferrolb_nfqueue\.node/.test(l.msg)),
    JSON.stringify(f.logs),
  );
  await s2.stop();
  assert.deepEqual(f.calls, []);
});

test('data plane off: the engine never starts', async () => {
  const f = fakes(snap());
  let loaded = false;
  const shell = new SctpShell({
    runtime: f.rt,
    log: fakeLog(f.logs),
    kernel: false,
    run: f.run,
    loadIo: () => {
      loaded = true;
      throw new Error('unreachable');
    },
  });
  await shell.start();
  assert.equal(loaded, false);
  assert.equal(shell.status().running, false);
  await shell.stop();
  assert.deepEqual(f.calls, []);
});

function fakeLog(logs: { level: string; msg: string }[]): Logger {
  return {
    info: (_o: unknown, msg?: string) => logs.push({ level: 'info', msg: String(msg ?? _o) }),
    error: (_o: unknown, msg?: string) => logs.push({ level: 'error', msg: String(msg ?? _o) }),
  } as unknown as Logger;
}

test('dataplaneServices with a health version: verdicts are looked up again only when it changes', () => {
  const s = snap();
  let state: 'active' | 'inactive' = 'active';
  let version = 1;
  let lookups = 0;
  const health = () => (lookups++, state);
  const first = dataplaneServices(s, health, () => version);
  assert.ok(lookups > 0);
  lookups = 0;
  state = 'inactive'; // not announced: the version did not change
  assert.equal(dataplaneServices(s, health, () => version)[0], first[0], 'memoised object');
  assert.equal(lookups, 0, 'no lookup while the version stands');
  version = 2;
  const next = dataplaneServices(s, health, () => version);
  assert.ok(lookups > 0);
  assert.ok(next[0]!.endpoints.every((e) => e.state === 'inactive'), 'new verdicts once it changes');
});
