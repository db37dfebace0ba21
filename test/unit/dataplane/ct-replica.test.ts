import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CtRecordError,
  deleteArgs,
  flowKey,
  fromRecord,
  installArgs,
  isServiceFlow,
  parseCtLine,
  servicePortKey,
  toRecord,
  type CtFlow,
} from '../../../src/dataplane/ct-replica.js';

// Real `conntrack -E -o extended,id` / `-L -o extended` lines (conntrack-tools 1.4.7, a DNAT flow).
const NEW =
  '    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.99.0.1 dst=10.99.0.1 sport=38320 dport=80 [UNREPLIED] src=127.0.0.1 dst=10.99.0.1 sport=8080 dport=38320 id=2092001890';
const EST =
  'ipv4     2 tcp      6 431999 ESTABLISHED src=10.99.0.1 dst=10.99.0.1 sport=38320 dport=80 src=127.0.0.1 dst=10.99.0.1 sport=8080 dport=38320 [ASSURED] mark=0 use=1 id=2092001890';
const UDP =
  ' [UPDATE] ipv6     10 udp      17 29 src=fd00::2 dst=fd00::10 sport=5000 dport=53 src=fd00::20 dst=fd00::2 sport=53 dport=5000 [ASSURED] id=7';

describe('conntrack replica codec', () => {
  it('parses events and listings with both tuples (the NAT mapping)', () => {
    const n = parseCtLine(NEW);
    assert.equal(n?.type, 'NEW');
    assert.equal(n?.flow.state, 'SYN_SENT');
    assert.equal(n?.flow.assured, false);
    assert.deepEqual(n?.flow.reply, { src: '127.0.0.1', dst: '10.99.0.1', sport: 8080, dport: 38320 });
    const e = parseCtLine(EST);
    assert.equal(e?.type, 'NEW');
    assert.equal(e?.flow.timeout, 431999);
    assert.equal(e?.flow.assured, true);
    assert.equal(flowKey(e?.flow as CtFlow), 'tcp 10.99.0.1 38320 10.99.0.1 80');
    const u = parseCtLine(UDP);
    assert.equal(u?.flow.family, 'ipv6');
    assert.equal(u?.flow.state, '');
    assert.equal(parseCtLine('ipv4 2 icmp 1 29 src=1.1.1.1 dst=2.2.2.2 type=8 code=0 id=1'), undefined);
    assert.equal(
      parseCtLine('conntrack v1.4.7 (conntrack-tools): 6 flow events have been shown.'),
      undefined,
    );
  });

  it('keeps only service flows; records round-trip; a destroy deletes by key', () => {
    const f = parseCtLine(EST)?.flow as CtFlow;
    assert.ok(isServiceFlow(f, new Set([servicePortKey('10.99.0.1', 'tcp', 80)])));
    assert.ok(!isServiceFlow(f, new Set([servicePortKey('10.99.0.1', 'udp', 80)])));
    const r = toRecord({ type: 'UPDATE', flow: f });
    assert.deepEqual(fromRecord(r), f);
    const d = toRecord({ type: 'DESTROY', flow: f });
    assert.equal(d.deleted, true);
    assert.deepEqual(deleteArgs(d.key), [
      '-D',
      '-f',
      'ipv4',
      '-p',
      'tcp',
      '-s',
      '10.99.0.1',
      '--sport',
      '38320',
      '-d',
      '10.99.0.1',
      '--dport',
      '80',
    ]);
    assert.throws(() => fromRecord({ key: 'x', data: Buffer.from('{"v":2}') }), CtRecordError);
    assert.throws(() => fromRecord({ key: 'tcp 1 2 3 4', data: r.data }), /key does not match/);
  });

  it('install arguments carry the original tuple, the NAT binding, the state and a timeout of at least 1 s', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500000 }),
        fc.boolean(),
        fc.boolean(),
        (timeout, assured, unreplied) => {
          const f: CtFlow = { ...(parseCtLine(EST)?.flow as CtFlow), timeout, assured, unreplied };
          for (const op of ['-I', '-U'] as const) {
            const a = installArgs(f, op);
            const at = (k: string) => a[a.indexOf(k) + 1];
            // The kernel derives the reply tuple from the NAT binding; a given one would get no NAT bits.
            for (const k of ['-r', '-q', '--reply-port-src', '--reply-port-dst'])
              assert.ok(!a.includes(k), k);
            assert.equal(at('-s'), '10.99.0.1');
            assert.equal(at('--state'), 'ESTABLISHED');
            assert.equal(Number(at('-t')), Math.max(1, timeout));
            const status = [...(unreplied ? [] : ['SEEN_REPLY']), ...(assured ? ['ASSURED'] : [])];
            assert.equal(a.includes('-u') ? at('-u') : '', status.join(','));
            // The DNAT binding (reply source differs from the original destination); no SNAT here;
            // an update cannot change a binding.
            assert.equal(
              a.includes('--dst-nat') ? at('--dst-nat') : undefined,
              op === '-I' ? '127.0.0.1:8080' : undefined,
            );
            assert.ok(!a.includes('--src-nat'));
          }
        },
      ),
    );
  });

  it('a fullNAT flow installs both bindings, and [UNREPLIED] is carried', () => {
    const line =
      '    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.9.0.50 dst=10.9.0.200 sport=40000 dport=80 [UNREPLIED] src=10.9.0.60 dst=10.9.0.200 sport=8080 dport=40001 id=1';
    const f = parseCtLine(line)?.flow as CtFlow;
    assert.equal(f.unreplied, true);
    const a = installArgs(f, '-I');
    assert.equal(a[a.indexOf('--dst-nat') + 1], '10.9.0.60:8080');
    assert.equal(a[a.indexOf('--src-nat') + 1], '10.9.0.200:40001');
    assert.ok(!a.includes('-u'));
  });
});
