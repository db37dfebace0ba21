import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBatchFailures, syncVips, vipRefusal } from '../../../src/dataplane/vip.js';
import type { Runner } from '../../../src/dataplane/exec.js';
import { parseSysctl, wantedSysctls } from '../../../src/dataplane/sysctl.js';

describe('VIP plumbing', () => {
  it('refuses addresses no node can own as a service address, names why', () => {
    for (const [a, why] of [
      ['::', /unspecified/],
      ['::1', /loopback/],
      ['ff02::1', /multicast/],
      ['fe80::1', /link-local/],
      ['::ffff:10.0.0.1', /IPv4-mapped/],
      ['0.0.0.0', /this network/],
      ['127.0.0.5', /loopback/],
      ['224.0.0.1', /multicast/],
      ['239.255.255.255', /multicast/],
      ['169.254.1.1', /link-local/],
      ['255.255.255.255', /broadcast/],
      ['bogus', /not an IP/],
    ] as const)
      assert.match(vipRefusal(a) ?? 'accepted', why, a);
    for (const a of ['10.200.0.10', '192.0.2.1', 'fd00:200::10', '2001:db8::1', '::2', '223.255.255.255'])
      assert.equal(vipRefusal(a), undefined, a);
  });

  it('ip -force -batch: failed lines are found by number with their error', () => {
    const m = parseBatchFailures(
      'Error: ipv6: Invalid address.\nCommand failed -:1\nRTNETLINK answers: File exists\nCommand failed -:3\n',
    );
    assert.deepEqual(
      [...m],
      [
        [1, 'Error: ipv6: Invalid address.'],
        [3, 'RTNETLINK answers: File exists'],
      ],
    );
  });

  it('one refused VIP never blocks the others: one batch, the failure reported per address', async () => {
    const calls: string[] = [];
    const inputs: string[] = [];
    const run: Runner = async (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (input) inputs.push(input);
      if (args.includes('-batch'))
        return { stdout: '', stderr: 'RTNETLINK answers: Invalid argument\nCommand failed -:2\n', code: 1 };
      if (args[1] === 'addr') return { stdout: '[{"addr_info":[]}]', stderr: '', code: 0 };
      return { stdout: '[]', stderr: '', code: 0 };
    };
    const r = await syncVips(run, 'ferrolb0', ['10.200.0.1', 'ff02::1', '10.200.0.2', '10.200.0.3'], 'route');
    assert.deepEqual(r.added, ['10.200.0.1', '10.200.0.3']);
    assert.deepEqual(
      r.failed.map((f) => f.address),
      ['ff02::1', '10.200.0.2'],
    );
    assert.match(r.failed[0]!.reason, /multicast/);
    assert.match(r.failed[1]!.reason, /Invalid argument/);
    assert.equal(calls.filter((c) => c.includes('-batch')).length, 1);
    assert.equal(
      inputs[0]?.split('\n').filter(Boolean).length,
      3,
      'the refused multicast VIP is not even tried',
    );
    assert.match(inputs[0] ?? '', /^route add local 10\.200\.0\.1\/32 dev ferrolb0 table local proto 250$/m);
  });

  it('with a known model nothing is listed: only the difference is written, and the model follows', async () => {
    const calls: string[] = [];
    const inputs: string[] = [];
    const run: Runner = async (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (input) inputs.push(input);
      if (args.includes('-batch'))
        return { stdout: '', stderr: 'RTNETLINK answers: Invalid argument\nCommand failed -:2\n', code: 1 };
      throw new Error(`unexpected ${cmd} ${args.join(' ')}`);
    };
    const known = { addresses: new Set<string>(), routes: new Set(['10.200.0.1', '10.200.0.9']) };
    const r = await syncVips(run, 'ferrolb0', ['10.200.0.1', '10.200.0.2', '10.200.0.3'], 'route', known);
    assert.deepEqual(calls, ['ip -force -batch -'], 'one batch, no listing, no link command');
    assert.deepEqual(inputs[0]?.split('\n').filter(Boolean), [
      'route add local 10.200.0.2/32 dev ferrolb0 table local proto 250',
      'route add local 10.200.0.3/32 dev ferrolb0 table local proto 250',
      'route del local 10.200.0.9/32 dev ferrolb0 table local proto 250',
    ]);
    assert.deepEqual(r.added, ['10.200.0.2']);
    assert.deepEqual(r.removed, ['10.200.0.9']);
    assert.deepEqual([...r.held.routes].sort(), ['10.200.0.1', '10.200.0.2'], 'the refused one is not held');
    calls.length = 0;
    const again = await syncVips(run, 'ferrolb0', ['10.200.0.1', '10.200.0.2'], 'route', r.held);
    assert.deepEqual([calls, again.added, again.removed], [[], [], []], 'in step: no command at all');
  });

  it('adoption: a VIP held as an address (older versions) counts as held, nothing re-added', async () => {
    const run: Runner = async (_cmd, args) => {
      if (args[1] === 'addr')
        return { stdout: '[{"addr_info":[{"local":"10.200.0.1","scope":"global"}]}]', stderr: '', code: 0 };
      if (args.includes('-batch')) throw new Error('nothing to change');
      return { stdout: '[]', stderr: '', code: 0 };
    };
    const r = await syncVips(run, 'ferrolb0', ['10.200.0.1'], 'route');
    assert.deepEqual([r.added, r.removed, r.failed], [[], [], []]);
  });
});

describe('forwarding sysctls', () => {
  it('wanted per family served; parsed from sysctl output', () => {
    assert.deepEqual(
      [...wantedSysctls(new Set([6, 4]))],
      [
        ['net.ipv4.ip_forward', '1'],
        ['net.ipv6.conf.all.forwarding', '1'],
      ],
    );
    assert.deepEqual([...wantedSysctls(new Set())], []);
    assert.deepEqual(
      [...parseSysctl('net.ipv4.ip_forward = 0\nnet.ipv6.conf.all.forwarding = 1\n')],
      [
        ['net.ipv4.ip_forward', '0'],
        ['net.ipv6.conf.all.forwarding', '1'],
      ],
    );
  });
});
