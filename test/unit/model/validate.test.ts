import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDocuments } from '../../../src/model/load.js';
import { buildDesiredState } from '../../../src/model/validate.js';
import { formatIssue, type ConfigIssue } from '../../../src/model/issues.js';
import type { RawObject } from '../../../src/model/types.js';

const pool = (
  name: string,
  addresses: unknown,
  extra: Record<string, unknown> = {},
  apiVersion = 'ferrolb.io/v1',
): RawObject => ({
  apiVersion,
  kind: 'IPAddressPool',
  metadata: { name },
  spec: { addresses, ...extra },
});
const lb = (name: string, spec: Record<string, unknown>): RawObject => ({
  apiVersion: 'ferrolb.io/v1',
  kind: 'LoadBalancer',
  metadata: { name },
  spec: { ports: [{ port: 80 }], ...spec },
});
const check = (...objects: RawObject[]) =>
  buildDesiredState(objects.map((object) => ({ origin: 'file' as const, object })));

/** Asserts exactly one issue matches object+field, that its value is right, and that the printed line names all three. */
function expectIssue(
  issues: readonly ConfigIssue[],
  object: string,
  field: string,
  value: unknown,
  message: RegExp,
): void {
  const hits = issues.filter((i) => i.object === object && i.field === field);
  assert.equal(
    hits.length,
    1,
    `expected one issue on ${object} ${field}, got: ${issues.map(formatIssue).join(' | ')}`,
  );
  const hit = hits[0] as ConfigIssue;
  assert.deepEqual(hit.value, value);
  assert.match(hit.message, message);
  const line = formatIssue(hit);
  assert.ok(line.includes(object) && line.includes(field), line);
  if (value !== undefined)
    assert.ok(line.includes(typeof value === 'string' ? value : JSON.stringify(value)), line);
}

const base = pool('public', ['10.210.0.0/28', 'fd00:210::/124']);
const sec = pool('sec', ['10.211.0.0/29'], { autoAssign: false });

test('the example config is valid', () => {
  const p = parseDocuments(readFileSync('examples/standalone.yaml', 'utf8'));
  assert.deepEqual(p.issues, []);
  const r = check(...p.objects);
  assert.deepEqual(r.issues, []);
  assert.equal(r.state?.pools.size, 2);
  assert.equal(r.state?.loadBalancers.get('amf-n2')?.secondaryPools.length, 2);
  assert.equal(r.state?.loadBalancers.get('web')?.healthCheck.timeoutMs, 500);
});

test('maglevTableSize: a prime at least the endpoint count; a warning without algorithm maglev', () => {
  const eps = [{ address: '10.1.0.1' }, { address: '10.1.0.2' }, { address: '10.1.0.3' }];
  const ok = check(base, lb('m', { algorithm: 'maglev', maglevTableSize: 61, endpoints: eps }));
  assert.equal(ok.state?.loadBalancers.get('m')?.maglevTableSize, 61);
  expectIssue(
    check(base, lb('m', { algorithm: 'maglev', maglevTableSize: 60, endpoints: eps })).issues,
    'LoadBalancer/m',
    'spec.maglevTableSize',
    60,
    /prime/,
  );
  expectIssue(
    check(base, lb('m', { algorithm: 'maglev', maglevTableSize: 2, endpoints: eps })).issues,
    'LoadBalancer/m',
    'spec.maglevTableSize',
    2,
    /at least the number of endpoints \(3\)/,
  );
  const w = check(base, lb('m', { maglevTableSize: 61, endpoints: eps }));
  assert.ok(w.state);
  assert.ok(
    w.warnings.some((x) => x.field === 'spec.maglevTableSize' && /only used with algorithm/.test(x.message)),
  );
});

test('MetalLB IPAddressPool is accepted unchanged', () => {
  const r = check(
    pool(
      'mlb',
      ['192.168.10.0/24', '192.168.9.1-192.168.9.5', 'fc00:f853:0ccd:e799::/124'],
      {
        autoAssign: false,
        avoidBuggyIPs: true,
        serviceAllocation: {
          priority: 50,
          namespaces: ['a'],
          namespaceSelectors: [{ matchLabels: { foo: 'bar' } }],
          serviceSelectors: [{ matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] }],
        },
      },
      'metallb.io/v1beta1',
    ),
  );
  assert.deepEqual(r.issues, []);
  assert.equal(r.state?.pools.get('mlb')?.avoidBuggyIPs, true);
  assert.equal(r.state?.pools.get('mlb')?.serviceAllocation?.priority, 50);
});

test('bad CIDR, inverted range and bad address name the entry', () => {
  const r = check(pool('p', ['10.0.0.0/33', '10.0.0.9-10.0.0.1', 'banana', '10.1.0.0/24']));
  assert.equal(r.state, undefined);
  expectIssue(r.issues, 'IPAddressPool/p', 'spec.addresses[0]', '10.0.0.0/33', /prefix length/);
  expectIssue(r.issues, 'IPAddressPool/p', 'spec.addresses[1]', '10.0.0.9-10.0.0.1', /inverted range/);
  expectIssue(r.issues, 'IPAddressPool/p', 'spec.addresses[2]', 'banana', /not a CIDR, range or address/);
});

test('overlapping pools are rejected, naming both', () => {
  const r = check(pool('a', ['10.0.0.0/24']), pool('b', ['10.0.1.0/24', '10.0.0.128-10.0.0.130']));
  expectIssue(
    r.issues,
    'IPAddressPool/b',
    'spec.addresses[1]',
    '10.0.0.128-10.0.0.130',
    /overlaps IPAddressPool\/a spec\.addresses\[0\]/,
  );
  const inner = check(pool('c', ['10.0.0.0/24', '10.0.0.5']));
  expectIssue(
    inner.issues,
    'IPAddressPool/c',
    'spec.addresses[1]',
    '10.0.0.5',
    /overlaps spec\.addresses\[0\]/,
  );
});

test('duplicate names are rejected', () => {
  const r = check(base, pool('public', ['10.9.0.0/24']), lb('x', {}), lb('x', {}));
  expectIssue(r.issues, 'IPAddressPool/public', 'metadata.name', 'public', /duplicate IPAddressPool name/);
  expectIssue(r.issues, 'LoadBalancer/x', 'metadata.name', 'x', /duplicate LoadBalancer name/);
});

test('unknown pool references', () => {
  const r = check(
    base,
    lb('x', { pool: 'nope' }),
    lb('y', { mode: 'fullnat', ports: [{ port: 1, protocol: 'SCTP' }], secondaryPools: ['gone'] }),
  );
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.pool', 'nope', /no IPAddressPool with this name/);
  expectIssue(r.issues, 'LoadBalancer/y', 'spec.secondaryPools[0]', 'gone', /no IPAddressPool/);
});

test('more than 3 secondaries is rejected', () => {
  const r = check(
    base,
    sec,
    lb('x', {
      mode: 'fullnat',
      ports: [{ port: 1, protocol: 'SCTP' }],
      secondaryPools: ['sec', 'sec', 'sec', 'sec'],
    }),
  );
  expectIssue(
    r.issues,
    'LoadBalancer/x',
    'spec.secondaryPools',
    ['sec', 'sec', 'sec', 'sec'],
    /must NOT have more than 3 items/,
  );
  const r2 = check(
    base,
    sec,
    lb('y', {
      mode: 'fullnat',
      ports: [{ port: 1, protocol: 'SCTP' }],
      secondaryAddresses: ['10.211.0.1', '10.211.0.2', '10.211.0.3', '10.211.0.4'],
    }),
  );
  expectIssue(
    r2.issues,
    'LoadBalancer/y',
    'spec.secondaryAddresses',
    ['10.211.0.1', '10.211.0.2', '10.211.0.3', '10.211.0.4'],
    /more than 3/,
  );
});

test('secondaries need fullnat and SCTP, and exclude each other', () => {
  const r = check(
    base,
    sec,
    lb('x', {
      secondaryPools: ['sec'],
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 9, protocol: 'SCTP' },
      ],
    }),
  );
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.mode', 'default', /needs mode "fullnat"/);
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.ports[0].protocol', 'TCP', /needs every port to be SCTP/);
  const r2 = check(
    base,
    sec,
    lb('y', {
      mode: 'fullnat',
      ports: [{ port: 9, protocol: 'SCTP' }],
      secondaryPools: ['sec'],
      secondaryAddresses: ['10.211.0.3'],
    }),
  );
  expectIssue(r2.issues, 'LoadBalancer/y', 'spec.secondaryAddresses', ['10.211.0.3'], /cannot be combined/);
});

test('requested addresses must be inside a pool, one per family', () => {
  const r = check(
    base,
    sec,
    lb('x', { addresses: ['192.0.2.1'] }),
    lb('y', { addresses: ['10.210.0.1', '10.210.0.2'] }),
    lb('z', { pool: 'public', addresses: ['10.211.0.1'] }),
  );
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.addresses[0]', '192.0.2.1', /not inside any IPAddressPool/);
  expectIssue(r.issues, 'LoadBalancer/y', 'spec.addresses[1]', '10.210.0.2', /at most one primary IPv4/);
  expectIssue(
    r.issues,
    'LoadBalancer/z',
    'spec.addresses[0]',
    '10.211.0.1',
    /not inside IPAddressPool\/public/,
  );
  const r2 = check(
    base,
    sec,
    lb('s', { mode: 'fullnat', ports: [{ port: 9, protocol: 'SCTP' }], secondaryAddresses: ['203.0.113.9'] }),
  );
  expectIssue(
    r2.issues,
    'LoadBalancer/s',
    'spec.secondaryAddresses[0]',
    '203.0.113.9',
    /not inside any IPAddressPool/,
  );
});

test('ports out of range, duplicates, unknown protocol and fields', () => {
  const r = check(
    base,
    lb('x', { ports: [{ port: 70000 }, { port: 0, targetPort: 65536 }, { port: 53, protocol: 'udp' }] }),
    lb('y', { ports: [{ port: 80 }, { port: 80, protocol: 'TCP' }] }),
    lb('z', { pool: 'public', secondaryPool: 'x' }),
  );
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.ports[0].port', 70000, /<= 65535/);
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.ports[1].port', 0, />= 1/);
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.ports[1].targetPort', 65536, /<= 65535/);
  expectIssue(r.issues, 'LoadBalancer/x', 'spec.ports[2].protocol', 'udp', /one of "TCP", "UDP", "SCTP"/);
  expectIssue(r.issues, 'LoadBalancer/y', 'spec.ports[1].port', 80, /repeats spec.ports\[0\]/);
  expectIssue(r.issues, 'LoadBalancer/z', 'spec.secondaryPool', 'x', /unknown field/);
});

test('modes, algorithms, endpoints, families and health checks', () => {
  const r = check(
    base,
    lb('a', {
      mode: 'dsr',
      algorithm: 'random',
      endpoints: [
        { address: '10.1.1.1' },
        { address: '10.1.1.1' },
        { address: '10.1.1.300' },
        { address: '10.1.1.2', weight: 0 },
      ],
    }),
    lb('b', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'SingleStack' }),
    lb('c', { healthCheck: { type: 'tcp', interval: '1s', timeout: '2s' } }),
    lb('d', { healthCheck: { type: 'tcp', interval: 'soon', path: '/x' } }),
    lb('e', { ipFamilies: ['IPv6'], addresses: ['10.210.0.3'] }),
  );
  expectIssue(r.issues, 'LoadBalancer/a', 'spec.mode', 'dsr', /one of "default", "fullnat"/);
  expectIssue(r.issues, 'LoadBalancer/a', 'spec.algorithm', 'random', /one of "roundrobin"/);
  expectIssue(r.issues, 'LoadBalancer/a', 'spec.endpoints[3].weight', 0, />= 1/);
  expectIssue(r.issues, 'LoadBalancer/b', 'spec.ipFamilyPolicy', 'SingleStack', /one address family/);
  expectIssue(r.issues, 'LoadBalancer/c', 'spec.healthCheck.timeout', '2s', /must not exceed/);
  expectIssue(r.issues, 'LoadBalancer/d', 'spec.healthCheck.interval', 'soon', /duration/);
  expectIssue(
    r.issues,
    'LoadBalancer/e',
    'spec.addresses[0]',
    '10.210.0.3',
    /IPv4 is not in spec.ipFamilies/,
  );
  // Endpoint problems are semantic: they show once the shape is right.
  const r2 = check(
    base,
    lb('a', { endpoints: [{ address: '10.1.1.1' }, { address: '10.1.1.1' }, { address: '10.1.1.300' }] }),
    lb('d', { healthCheck: { type: 'tcp', path: '/x' } }),
  );
  expectIssue(r2.issues, 'LoadBalancer/a', 'spec.endpoints[1].address', '10.1.1.1', /listed twice/);
  expectIssue(r2.issues, 'LoadBalancer/a', 'spec.endpoints[2].address', '10.1.1.300', /not an IPv4 or IPv6/);
  expectIssue(r2.issues, 'LoadBalancer/d', 'spec.healthCheck.path', '/x', /only applies to http/);
  const r3 = check(
    base,
    lb('f', { healthCheck: { type: 'tcp', expectStatus: [204], udpSilence: 'up' } }),
    lb('g', { healthCheck: { type: 'http', expectStatus: [99] } }),
  );
  expectIssue(r3.issues, 'LoadBalancer/f', 'spec.healthCheck.expectStatus', [204], /only applies to http/);
  expectIssue(r3.issues, 'LoadBalancer/f', 'spec.healthCheck.udpSilence', 'up', /only applies to udp/);
  const r4 = check(base, lb('g', { healthCheck: { type: 'http', expectStatus: [99] } }));
  expectIssue(r4.issues, 'LoadBalancer/g', 'spec.healthCheck.expectStatus[0]', 99, />= 100/);
});

test('snatAddresses: fullnat only, one per family, real addresses', () => {
  const r = check(
    base,
    lb('a', { snatAddresses: ['10.9.9.9'] }),
    lb('b', { mode: 'fullnat', snatAddresses: ['10.9.9.9', '10.9.9.8'] }),
    lb('c', { mode: 'fullnat', snatAddresses: ['nope'] }),
  );
  expectIssue(
    r.issues,
    'LoadBalancer/a',
    'spec.snatAddresses[0]',
    '10.9.9.9',
    /only used with mode "fullnat"/,
  );
  expectIssue(r.issues, 'LoadBalancer/b', 'spec.snatAddresses[1]', '10.9.9.8', /at most one IPv4/);
  expectIssue(r.issues, 'LoadBalancer/c', 'spec.snatAddresses[0]', 'nope', /not an IPv4 or IPv6/);
  const ok = check(base, lb('d', { mode: 'fullnat', snatAddresses: ['10.9.9.9', 'FD00::1'] }));
  assert.deepEqual(ok.state?.loadBalancers.get('d')?.snatAddresses, ['10.9.9.9', 'fd00::1']);
});

test('sourceRanges: CIDRs only, canonical network, no repeats', () => {
  const r = check(
    base,
    lb('a', { sourceRanges: ['10.0.0.1'] }),
    lb('b', { sourceRanges: ['10.0.0.0/33'] }),
    lb('c', { sourceRanges: ['nope/8'] }),
    lb('d', { sourceRanges: ['10.0.0.0-10.0.0.9'] }),
  );
  for (const [name, value] of [
    ['a', '10.0.0.1'],
    ['b', '10.0.0.0/33'],
    ['c', 'nope/8'],
    ['d', '10.0.0.0-10.0.0.9'],
  ])
    expectIssue(r.issues, `LoadBalancer/${name}`, 'spec.sourceRanges[0]', value, /not a CIDR/);
  const ok = check(
    base,
    lb('e', { sourceRanges: ['192.0.2.77/24', '192.0.2.0/24', ' FD00:0::1/64', '0.0.0.0/0'] }),
  );
  assert.deepEqual(ok.state?.loadBalancers.get('e')?.sourceRanges, [
    '192.0.2.0/24',
    'fd00::/64',
    '0.0.0.0/0',
  ]);
  assert.deepEqual(check(base, lb('f', {})).state?.loadBalancers.get('f')?.sourceRanges, []);
});

test('unknown kind, missing fields and YAML syntax errors', () => {
  const r = check(
    { apiVersion: 'ferrolb.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: {} },
    { apiVersion: 'ferrolb.io/v1', kind: 'LoadBalancer', metadata: { name: 'Bad_Name' }, spec: {} },
  );
  expectIssue(r.issues, 'Gateway/g', 'kind', 'Gateway', /unknown kind/);
  expectIssue(r.issues, 'LoadBalancer/Bad_Name', 'metadata.name', 'Bad_Name', /DNS label/);
  expectIssue(r.issues, 'LoadBalancer/Bad_Name', 'spec.ports', undefined, /required field is missing/);
  const y = parseDocuments('a: [1, 2\n---\nkind: x\n', 'f.yaml');
  assert.equal(y.issues.length, 1);
  assert.match(y.issues[0]?.object ?? '', /f\.yaml document 1/);
});

test('every problem is reported at once, and nothing is built', () => {
  const r = check(pool('p', ['bad']), lb('x', { pool: 'q', ports: [{ port: 0 }] }));
  assert.equal(r.state, undefined);
  assert.ok(r.issues.length >= 2, r.issues.map(formatIssue).join('\n'));
});
