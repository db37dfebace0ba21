import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Applier, DataplaneApplyError } from '../../../src/dataplane/applier.js';
import type { Runner, RunResult } from '../../../src/dataplane/exec.js';
import type { DataplaneService } from '../../../src/dataplane/types.js';

const svc: DataplaneService = {
  name: 'web',
  addresses: ['10.200.0.1'],
  ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
  mode: 'default',
  algorithm: 'roundrobin',
  endpoints: [{ address: '10.1.0.1', weight: 1, state: 'active' }],
};

/** A scripted stand-in for nft: records every call, answers from `reply`. */
function fakeRunner(reply: (cmd: string, args: readonly string[]) => Partial<RunResult>) {
  const calls: string[] = [];
  const run: Runner = async (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    return { stdout: '', stderr: '', code: 0, ...reply(cmd, args) };
  };
  return { run, calls };
}

const noTable = { code: 1, stderr: 'Error: No such file or directory; did you mean table ...' };

describe('applier shell (scripted runner)', () => {
  it('cold start: reads the kernel once, applies the whole table, then does nothing for the same state', async () => {
    const { run, calls } = fakeRunner((_cmd, args) => (args[0] === '-j' ? noTable : {}));
    const ap = new Applier({ run, vipInterface: false });
    const r = await ap.apply([svc]);
    assert.ok(r.full && r.statements > 0);
    assert.deepEqual(calls, ['nft -j list table inet ferrolb', 'nft -f -']);
    assert.equal((await ap.apply([svc])).statements, 0);
    assert.equal(calls.length, 2, 'no command for an unchanged state');
  });

  it('VIPs: listed from the kernel once; an endpoint change runs no ip command; a VIP event lists again', async () => {
    const { run, calls } = fakeRunner((cmd, args) =>
      cmd === 'nft' && args[0] === '-j'
        ? noTable
        : cmd === 'ip' && args[1] === 'addr'
          ? { stdout: '[{"addr_info":[]}]' }
          : cmd === 'ip' && args[0] === '-j'
            ? { stdout: '[]' }
            : {},
    );
    const ip = () => calls.filter((c) => c.startsWith('ip '));
    const ap = new Applier({ run });
    const r = await ap.apply([svc]);
    assert.deepEqual(r.vipsAdded, ['10.200.0.1']);
    const first = ip().length;
    assert.ok(ip().some((c) => c.includes('route show')), 'first sync lists what the kernel holds');
    const down = { ...svc, endpoints: [{ address: '10.1.0.1', weight: 1, state: 'inactive' as const }] };
    assert.ok((await ap.apply([down])).statements > 0);
    assert.equal(ip().length, first, 'no ip command for a change that keeps the addresses');
    const two = { ...down, addresses: ['10.200.0.1', '10.200.0.2'] };
    assert.deepEqual((await ap.apply([two])).vipsAdded, ['10.200.0.2']);
    assert.deepEqual(ip().slice(first), ['ip -force -batch -'], 'a new address: one batch, no listing');
    ap.vipsDrifted();
    await ap.apply([{ ...two, endpoints: svc.endpoints }]);
    assert.ok(ip().slice(first + 1).some((c) => c.includes('route show')), 'after a VIP event: listed again');
  });

  it('a rejected transaction throws a typed error without dumping the script into logs, then re-reads the kernel', async () => {
    let fail = true;
    const { run, calls } = fakeRunner((_cmd, args) =>
      args[0] === '-j' ? noTable : fail ? { code: 1, stderr: 'Error: Could not process rule' } : {},
    );
    const ap = new Applier({ run, vipInterface: false });
    const err = await ap.apply([svc]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DataplaneApplyError);
    assert.match(err.message, /Could not process rule/);
    assert.ok(err.script.includes('add table inet ferrolb'));
    assert.ok(!JSON.stringify(err).includes('add table'), 'script is not enumerable');
    fail = false;
    await ap.apply([svc]);
    assert.equal(
      calls.filter((c) => c.startsWith('nft -j list table')).length,
      2,
      'kernel re-read after failure',
    );
  });

  it('source-range drops: read from the named counters, per family; none without a table', async () => {
    const counters = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { counter: { family: 'inet', name: 'srcdrop4', table: 'ferrolb', packets: 5, bytes: 300 } },
        { counter: { family: 'inet', name: 'srcdrop6', table: 'ferrolb', packets: 1, bytes: 80 } },
      ],
    });
    const { run, calls } = fakeRunner((_cmd, args) => (args[2] === 'counters' ? { stdout: counters } : {}));
    assert.deepEqual(await new Applier({ run, vipInterface: false }).sourceRangeDrops(), [
      { family: 4, packets: 5, bytes: 300 },
      { family: 6, packets: 1, bytes: 80 },
    ]);
    assert.deepEqual(calls, ['nft -j list counters table inet ferrolb']);
    const none = fakeRunner(() => noTable);
    assert.deepEqual(await new Applier({ run: none.run, vipInterface: false }).sourceRangeDrops(), []);
  });

  it('ranges tightened: after the commit, the refused clients’ flows are deleted from conntrack, one call per client and port', async () => {
    const ct =
      'tcp      6 431999 ESTABLISHED src=10.9.1.2 dst=10.200.0.1 sport=40000 dport=80 src=10.1.0.1 dst=10.9.1.2 sport=8080 dport=40000 [ASSURED] mark=0 use=1\n' +
      'tcp      6 431999 ESTABLISHED src=10.8.0.7 dst=10.200.0.1 sport=40001 dport=80 src=10.1.0.1 dst=10.8.0.7 sport=8080 dport=40001 [ASSURED] mark=0 use=1\n' +
      'tcp      6 431999 ESTABLISHED src=10.8.0.7 dst=10.200.0.1 sport=40002 dport=80 src=10.1.0.1 dst=10.8.0.7 sport=8080 dport=40002 [ASSURED] mark=0 use=1\n';
    const { run, calls } = fakeRunner((cmd, args) => {
      if (cmd === 'nft' && args[0] === '-j') return noTable;
      if (cmd === 'conntrack' && args[0] === '-L') return { stdout: args[2] === 'ipv4' ? ct : '' };
      if (cmd === 'conntrack')
        return { stderr: 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.' };
      return {};
    });
    const ap = new Applier({ run, vipInterface: false });
    const r = await ap.apply([{ ...svc, sourceRanges: ['10.9.0.0/16'] }]);
    assert.equal(r.purged, 2);
    assert.deepEqual(calls.slice(1), [
      'nft -f -',
      'conntrack -L -f ipv4',
      'conntrack -L -f ipv6',
      'conntrack -D -f ipv4 -p tcp --orig-src 10.8.0.7 --orig-dst 10.200.0.1 --orig-port-dst 80',
    ]);
    // Unchanged or widened ranges: conntrack is not even listed.
    calls.length = 0;
    assert.equal((await ap.apply([{ ...svc, sourceRanges: ['10.9.0.0/16'] }])).purged, 0);
    await ap.apply([{ ...svc, sourceRanges: ['10.9.0.0/16', '10.8.0.0/16'] }]);
    assert.deepEqual(calls, ['nft -f -']);
  });

  it('a failed purge is retried by the next apply, even when the table already matches', async () => {
    const ct =
      'udp      17 29 src=10.8.0.7 dst=10.200.0.1 sport=5000 dport=80 src=10.1.0.1 dst=10.8.0.7 sport=8080 dport=5000 mark=0 use=1\n';
    let broken = true;
    const { run, calls } = fakeRunner((cmd, args) => {
      if (cmd === 'nft' && args[0] === '-j') return noTable;
      if (cmd === 'conntrack' && args[0] === '-L') return { stdout: args[2] === 'ipv4' ? ct : '' };
      if (cmd === 'conntrack')
        return broken
          ? { code: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: invalid parameters' }
          : { stderr: 'conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.' };
      return {};
    });
    const ap = new Applier({ run, vipInterface: false });
    const ranged = [
      {
        ...svc,
        ports: [{ port: 80, protocol: 'UDP' as const, targetPort: 8080 }],
        sourceRanges: ['10.9.0.0/16'],
      },
    ];
    await assert.rejects(ap.apply(ranged), /conntrack -D/);
    broken = false;
    calls.length = 0;
    const r = await ap.apply(ranged);
    assert.deepEqual([r.statements, r.purged], [0, 1]);
    assert.equal(calls.filter((c) => c.startsWith('conntrack -D')).length, 1);
    assert.equal((await ap.apply(ranged)).purged, 0, 'done: not again');
  });

  it('guards reach the compiler: the planned transaction filters the SCTP engine’s service', async () => {
    const { run } = fakeRunner((_cmd, args) => (args[0] === '-j' ? noTable : {}));
    const tx = await new Applier({ run, vipInterface: false }).plan(
      [{ ...svc, sourceRanges: ['10.9.0.0/16'] }],
      [
        {
          name: 'n2',
          addresses: ['10.200.9.1'],
          ports: [{ port: 38412, protocol: 'SCTP' }],
          sourceRanges: ['10.9.0.0/16'],
          endpoints: ['10.1.0.9'],
        },
      ],
    );
    assert.match(
      tx.script,
      /^add element inet ferrolb srca4 \{ 10\.200\.0\.1 \. tcp \. 80 \. 10\.9\.0\.0\/16 \}$/m,
    );
    assert.match(
      tx.script,
      /^add element inet ferrolb guarda4 \{ .*10\.200\.9\.1 \. sctp \. 38412 \. 10\.1\.0\.9/m,
    );
  });

  it('an unexpected nft error while reading the table is not mistaken for "no table"', async () => {
    const { run } = fakeRunner(() => ({ code: 1, stderr: 'Error: Operation not permitted' }));
    await assert.rejects(new Applier({ run, vipInterface: false }).observe(), /Operation not permitted/);
  });
});
