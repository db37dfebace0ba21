import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  atomText,
  observeTable,
  parseCounters,
  NftJsonError,
} from '../../../src/dataplane/compiler/observe.js';
import { parseConntrack, countConnections, connKey } from '../../../src/dataplane/conntrack.js';

// Shapes as printed by `nft -j` 1.0.6 for the objects ferrolb creates (captured on the test bed).
const JSON_DUMP = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'ferrolb', handle: 2 } },
    {
      set: {
        family: 'inet',
        name: 'epcnt4',
        table: 'ferrolb',
        type: ['ipv4_addr', 'inet_proto', 'inet_service', 'ipv4_addr'],
        elem: [
          {
            elem: {
              val: { concat: ['10.200.0.1', 'tcp', 80, '10.0.0.1'] },
              counter: { packets: 7, bytes: 420 },
            },
          },
        ],
        stmt: [{ counter: null }],
      },
    },
    {
      map: {
        family: 'inet',
        name: 'svc6',
        table: 'ferrolb',
        type: ['ipv6_addr', 'inet_proto', 'inet_service'],
        handle: 5,
        map: 'verdict',
        elem: [[{ concat: ['FD00:200::0001', 'tcp', 80] }, { goto: { target: 's_x' } }]],
      },
    },
    {
      map: {
        family: 'inet',
        name: 'm_x',
        table: 'ferrolb',
        type: 'integer',
        handle: 7,
        map: 'ipv4_addr . inet_service',
        elem: [[0, { concat: ['10.0.0.1', 8080] }]],
      },
    },
    {
      set: {
        family: 'inet',
        name: 'a_x',
        table: 'ferrolb',
        type: 'ipv4_addr',
        flags: ['timeout'],
        timeout: 300,
        elem: [{ elem: { val: '10.1.1.1', expires: 299 } }],
      },
    },
    { chain: { family: 'inet', table: 'ferrolb', name: 's_x', handle: 1 } },
    {
      chain: {
        family: 'inet',
        table: 'ferrolb',
        name: 'prerouting',
        handle: 3,
        type: 'nat',
        hook: 'prerouting',
        prio: -100,
        policy: 'accept',
      },
    },
    { rule: { family: 'inet', table: 'ferrolb', chain: 's_x', handle: 9, comment: 'fl:abc', expr: [] } },
    { rule: { family: 'inet', table: 'ferrolb', chain: 's_x', handle: 10, expr: [] } },
  ],
});

describe('reading the kernel table back', () => {
  it('turns nft -j output into the compiler’s TableState (canonical elements, rule ids, hooks)', () => {
    const s = observeTable(JSON_DUMP, 'ferrolb');
    assert.equal(s.maps.get('svc6')!.elements.get('fd00:200::1 . tcp . 80'), 'goto s_x');
    assert.equal(s.maps.get('svc6')!.sig, 'map|ipv6_addr . inet_proto . inet_service|verdict|0');
    assert.equal(s.maps.get('m_x')!.sig, 'map|integer|ipv4_addr . inet_service|0');
    assert.equal(s.maps.get('m_x')!.elements.get('0'), '10.0.0.1 . 8080');
    assert.equal(s.maps.get('a_x')!.sig, 'set|ipv4_addr||300');
    assert.equal(s.maps.get('a_x')!.elements.has('10.1.1.1'), true);
    assert.equal(s.chains.get('prerouting')!.hook, 'nat prerouting -100 accept');
    // A rule without our id (someone edited the table) is "foreign": it never matches a compiled id.
    assert.deepEqual(
      s.chains.get('s_x')!.rules.map((r) => r.id),
      ['fl:abc', 'foreign'],
    );
    assert.equal(s.maps.get('epcnt4')!.elements.has('10.200.0.1 . tcp . 80 . 10.0.0.1'), true);
    assert.deepEqual(
      parseCounters(JSON_DUMP),
      new Map([['epcnt4|10.200.0.1 . tcp . 80 . 10.0.0.1', { packets: 7, bytes: 420 }]]),
    );
  });

  it('atoms: numbers, names, addresses (canonicalised), concatenations, verdicts', () => {
    assert.equal(atomText(80), '80');
    assert.equal(atomText('sctp'), 'sctp');
    assert.equal(atomText('FD00:0:0::1'), 'fd00::1');
    assert.equal(atomText({ concat: ['10.0.0.1', 'udp', 53] }), '10.0.0.1 . udp . 53');
    assert.equal(atomText({ jump: { target: 'x' } }), 'jump x');
  });

  it('rejects output that is not nft JSON', () => {
    assert.throws(() => observeTable('nope', 'ferrolb'), NftJsonError);
    assert.throws(() => observeTable('{}', 'ferrolb'), NftJsonError);
  });
});

describe('conntrack parsing', () => {
  const text = [
    'tcp      6 431999 ESTABLISHED src=10.201.1.2 dst=10.200.0.10 sport=40000 dport=80 src=10.201.2.11 dst=10.201.1.2 sport=8080 dport=40000 [ASSURED] mark=0 use=1',
    'tcp      6 119 TIME_WAIT src=10.201.1.2 dst=10.200.0.10 sport=40001 dport=80 src=10.201.2.11 dst=10.201.1.2 sport=8080 dport=40001 [ASSURED] mark=0 use=1',
    'udp      17 29 src=fd01:1::2 dst=fd00:200::10 sport=5000 dport=53 src=fd01:2::12 dst=fd01:1::2 sport=5353 dport=5000 mark=0 use=1',
    'sctp     132 3 ESTABLISHED src=10.201.1.2 dst=10.200.0.10 sport=7 dport=7 src=10.201.2.13 dst=10.201.2.1 sport=7 dport=7 [ASSURED] mark=0 use=1',
    'conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.',
  ].join('\n');

  it('reads original destination, port and the endpoint (reply source) of each flow', () => {
    const e = parseConntrack(text);
    assert.equal(e.length, 4);
    assert.deepEqual(e[2], {
      protocol: 'udp',
      state: '',
      origSrc: 'fd01:1::2',
      origDst: 'fd00:200::10',
      origDport: 53,
      replySrc: 'fd01:2::12',
    });
    assert.equal(e[3]!.replySrc, '10.201.2.13');
  });

  it('counts live connections per service port and endpoint, ignoring closing ones', () => {
    const n = countConnections(parseConntrack(text));
    assert.equal(n.get(connKey('10.200.0.10', 'TCP', 80, '10.201.2.11')), 1);
    assert.equal(n.get(connKey('fd00:200::10', 'udp', 53, 'fd01:2::12')), 1);
  });
});
