import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyHints,
  classifyDrift,
  compareDigests,
  digestState,
  digestStateAsync,
  MonitorParser,
  transactionHints,
  UNKNOWN_RULE,
  vipEventHint,
} from '../../../src/dataplane/drift.js';
import { compile } from '../../../src/dataplane/compiler/compile.js';
import { diffTables } from '../../../src/dataplane/compiler/diff.js';
import type { TableState } from '../../../src/dataplane/compiler/table.js';
import type { DataplaneService } from '../../../src/dataplane/types.js';

const svc = (name: string, vip: string): DataplaneService => ({
  name,
  addresses: [vip],
  ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: [
    { address: '10.1.0.1', weight: 1, state: 'active' },
    { address: '10.1.0.2', weight: 1, state: 'active' },
  ],
});
const model = (): TableState => compile([svc('web', '10.200.0.1'), svc('api', '10.200.0.2')]).state;

describe('nft monitor parsing', () => {
  it('splits the stream into transactions at the generation lines, across chunk boundaries', () => {
    const p = new MonitorParser();
    const text =
      'delete element inet ferrolb svc4 { 10.200.0.1 . tcp . 80 : goto s_x }\n# new generation 7 by process 4242 (nft)\n' +
      'delete table inet ferrolb\ndelete table inet other\n# new generation 8 by process 99 (nft)\n';
    const cut = 30;
    const a = p.push(text.slice(0, cut));
    const b = p.push(text.slice(cut));
    assert.deepEqual(a, []);
    assert.deepEqual(
      b.map((t) => [t.generation, t.pid, t.lines.length, t.truncated]),
      [
        [7, 4242, 1, false],
        [8, 99, 2, false],
      ],
    );
  });

  it('a transaction longer than the cap is marked truncated instead of growing without bound', () => {
    const p = new MonitorParser(3);
    const t = p.push(
      'add element inet ferrolb m { 1 }\n'.repeat(10) + '# new generation 1 by process 1 (nft)\n',
    );
    assert.equal(t[0]?.lines.length, 3);
    assert.equal(t[0]?.truncated, true);
  });

  it('hints name only objects of our table; a deleted table supersedes the rest', () => {
    const lines = [
      'delete element inet ferrolb svc4 { 10.200.0.1 . tcp . 80 : goto s_x }',
      'delete element inet ferrolb svc4 { 10.200.0.2 . tcp . 80 : goto s_y }',
      'delete rule inet ferrolb prerouting handle 4',
      'add rule inet ferrolb prerouting drop',
      'delete chain inet ferrolb s_x',
      'delete set inet ferrolb slots4tcp_3',
      'delete map inet ferrolb snat4',
      'delete counter inet ferrolb srcdrop4',
      'delete chain inet other c',
      'delete element ip ferrolb m { 1 }',
      'add chain inet ferrolb new',
    ];
    assert.deepEqual(transactionHints(lines, 'ferrolb'), [
      { kind: 'element', name: 'svc4' },
      { kind: 'rule', name: 'prerouting' },
      { kind: 'chain', name: 's_x' },
      { kind: 'map', name: 'slots4tcp_3' },
      { kind: 'map', name: 'snat4' },
      { kind: 'counter', name: 'srcdrop4' },
    ]);
    // `nft insert rule` (a rule put ahead of ours) is reported as "insert", not "add".
    assert.deepEqual(
      transactionHints(['insert rule inet ferrolb prerouting ip daddr 10.200.0.1 accept'], 'ferrolb'),
      [{ kind: 'rule', name: 'prerouting' }],
    );
    assert.deepEqual(transactionHints([...lines, 'delete table inet ferrolb'], 'ferrolb'), [
      { kind: 'table' },
    ]);
    assert.deepEqual(transactionHints(['delete table inet ferrolbx'], 'ferrolb'), []);
  });
});

describe('hints applied to the model: the next diff repairs exactly what went missing', () => {
  it('a deleted chain is re-created with its rules', () => {
    const m = model();
    const name = [...m.chains.keys()].find((n) => n.startsWith('s_web'))!;
    const after = applyHints(m, [{ kind: 'chain', name }])!;
    const tx = diffTables(after, m);
    assert.ok(tx.script.includes(`add chain inet ferrolb ${name}`), tx.script);
    assert.ok(!tx.script.includes('flush chain'), 'nothing else rewritten');
    assert.equal(tx.statements, 1 + m.chains.get(name)!.rules.length);
  });

  it('a rule hint rewrites that chain only (flush + add), whatever rule it was', () => {
    const m = model();
    const after = applyHints(m, [{ kind: 'rule', name: 'prerouting' }])!;
    assert.equal(after.chains.get('prerouting')?.rules[0]?.id, UNKNOWN_RULE);
    const tx = diffTables(after, m);
    assert.deepEqual(
      tx.script
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(0, 4).join(' ')),
      ['flush chain inet ferrolb', 'add rule inet ferrolb', 'add rule inet ferrolb'],
    );
  });

  it('an element hint takes the map content read back; only the missing element is added', () => {
    const m = model();
    const d = m.maps.get('svc4')!;
    const read = { ...d, elements: new Map([...d.elements].slice(1)) };
    const after = applyHints(m, [{ kind: 'element', name: 'svc4' }], new Map([['svc4', read]]))!;
    const tx = diffTables(after, m);
    assert.equal(tx.statements, 1);
    assert.match(tx.script, /^add element inet ferrolb svc4 \{ 10\.200\.0\.\d \. tcp \. 80 : goto s_/);
  });

  it('a deleted map comes back with its elements; a deleted table is a full re-create', () => {
    const m = model();
    const after = applyHints(m, [{ kind: 'map', name: 'svc4' }])!;
    const tx = diffTables(after, m);
    assert.match(tx.script, /add map inet ferrolb svc4/);
    assert.match(tx.script, /add element inet ferrolb svc4/);
    assert.equal(applyHints(m, [{ kind: 'table' }]), undefined);
  });

  it('the model itself is not mutated (it may be shared with the compiler)', () => {
    const m = model();
    const chains = m.chains.size;
    applyHints(m, [
      { kind: 'chain', name: 'prerouting' },
      { kind: 'map', name: 'svc4' },
    ]);
    assert.equal(m.chains.size, chains);
    assert.ok(m.maps.has('svc4'));
  });
});

describe('drift classification of a full read', () => {
  it('names each kind of difference, and none for an identical read', () => {
    const m = model();
    assert.deepEqual(classifyDrift(m, m), []);
    assert.deepEqual(classifyDrift(m, undefined), ['table']);
    const chains = new Map(m.chains);
    const sel = [...chains.keys()].find((n) => n.startsWith('s_api'))!;
    chains.delete(sel);
    chains.set('prerouting', { ...chains.get('prerouting')!, rules: [] });
    chains.set('intruder', { name: 'intruder', hook: '', rules: [] });
    const maps = new Map(m.maps);
    const d = maps.get('svc4')!;
    maps.set('svc4', { ...d, elements: new Map([...d.elements].slice(1)) });
    maps.delete('snat4');
    const counters = new Map([['x', '']]);
    const mm: TableState = { ...m, counters };
    assert.deepEqual(classifyDrift(mm, { ...m, chains, maps, counters: new Map() }), [
      'chain',
      'rule',
      'map',
      'element',
      'counter',
      'foreign',
    ]);
  });

  it('dynamic sets (persist affinity) are the kernel’s business: their elements never count', () => {
    const m = compile([{ ...svc('p', '10.200.0.3'), algorithm: 'persist' }]).state;
    const maps = new Map(m.maps);
    const [name, aff] = [...maps].find(([, x]) => x.dynamic)!;
    maps.set(name, { ...aff, elements: new Map([['10.9.9.9', '']]) });
    assert.deepEqual(classifyDrift(m, { ...m, maps }), []);
  });
});

describe('digest comparison (what the verification worker runs)', () => {
  it('agrees with classifyDrift and names the objects to repair; the repair then converges', () => {
    const m = model();
    assert.deepEqual(compareDigests(digestState(m), digestState(m)), { drift: [], hints: [] });
    assert.deepEqual(compareDigests(digestState(m), undefined).hints, [{ kind: 'table' }]);
    const chains = new Map(m.chains);
    const sel = [...chains.keys()].find((n) => n.startsWith('s_api'))!;
    chains.delete(sel);
    chains.set('prerouting', { ...chains.get('prerouting')!, rules: [] });
    const maps = new Map(m.maps);
    const d = maps.get('svc4')!;
    maps.set('svc4', { ...d, elements: new Map([...d.elements].slice(1)) });
    const kernel: TableState = { ...m, chains, maps };
    const v = compareDigests(digestState(m), digestState(kernel));
    assert.deepEqual(v.drift, classifyDrift(m, kernel));
    assert.deepEqual(v.hints, [
      { kind: 'rule', name: 'prerouting' },
      { kind: 'chain', name: sel },
      { kind: 'element', name: 'svc4' },
    ]);
    // The shell absorbs the hints (svc4 read back as the kernel has it) and diffs: back to the model.
    const absorbed = applyHints(m, v.hints, new Map([['svc4', kernel.maps.get('svc4')]]))!;
    const tx = diffTables(absorbed, m);
    assert.match(tx.script, new RegExp(`add chain inet ferrolb ${sel}`));
    assert.match(tx.script, /flush chain inet ferrolb prerouting/);
    assert.equal(tx.script.match(/add element inet ferrolb svc4/g)?.length, 1);
  });

  it('the chunked digest (verify yields to the event loop while hashing) equals the plain one', async () => {
    const m = model();
    assert.deepEqual(await digestStateAsync(m, 3), digestState(m));
  });

  it('an element with another value counts (same count, different content); a foreign chain asks for a re-read', () => {
    const m = model();
    const maps = new Map(m.maps);
    const d = maps.get('svc4')!;
    const [k] = [...d.elements.keys()];
    maps.set('svc4', { ...d, elements: new Map([...d.elements, [k!, 'drop']]) });
    assert.deepEqual(compareDigests(digestState(m), digestState({ ...m, maps })).drift, ['element']);
    const chains = new Map(m.chains);
    chains.set('intruder', { name: 'intruder', hook: '', rules: [] });
    assert.deepEqual(compareDigests(digestState(m), digestState({ ...m, chains })), {
      drift: ['foreign'],
      hints: [{ kind: 'table' }],
    });
  });
});

describe('VIP monitor lines', () => {
  it('deletions on the VIP interface, the interface going away or down count; others do not', () => {
    const dev = 'ferrolb0';
    assert.ok(vipEventHint('Deleted local 10.200.0.10 dev ferrolb0 table local proto 250 scope host ', dev));
    assert.ok(vipEventHint('Deleted 7: ferrolb0    inet 10.200.0.10/32 scope global ferrolb0', dev));
    assert.ok(vipEventHint('Deleted 7: ferrolb0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop', dev));
    assert.ok(vipEventHint('7: ferrolb0: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN', dev));
    assert.ok(!vipEventHint('7: ferrolb0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP', dev));
    assert.ok(!vipEventHint('local 10.200.0.10 dev ferrolb0 table local proto 250 scope host', dev));
    assert.ok(!vipEventHint('Deleted local 10.9.0.1 dev ferrolb01 table local', dev));
    assert.ok(!vipEventHint('Deleted 3: eth0    inet 10.0.0.1/24', dev));
  });
});
