// Main ↔ SCTP carrier thread messages: services keep their bigint addresses through structured
// clone; malformed messages are refused naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../../src/net/ip.js';
import { parseFromSctp, parseToSctp, SctpThreadProtocolError } from '../../../src/sctp/thread/protocol.js';
import type { SctpService } from '../../../src/sctp/engine/types.js';

const svc: SctpService = {
  name: 'amf',
  vips: [parseIp('10.9.0.1'), parseIp('2001:db8::1')],
  port: 38412,
  endpoints: [{ addresses: [parseIp('10.0.2.2')], port: 38412 }],
};

test('services survive structured clone and parse unchanged', () => {
  const m = structuredClone({ type: 'services', services: [svc] });
  assert.deepEqual(parseToSctp(m), { type: 'services', services: [svc] });
  assert.deepEqual(parseToSctp({ type: 'stop' }), { type: 'stop' });
  assert.deepEqual(parseToSctp({ type: 'status' }), { type: 'status' });
});

test('malformed messages are refused naming the field', () => {
  const bad: [unknown, RegExp][] = [
    [
      { type: 'services', services: [{ ...svc, vips: ['10.9.0.1'] }] },
      /services\[0\]\.vips: expected IP addresses/,
    ],
    [{ type: 'services', services: [{ ...svc, port: '1' }] }, /services\[0\]\.port/],
    [
      { type: 'services', services: [{ ...svc, endpoints: [{ addresses: [] }] }] },
      /services\[0\]\.endpoints/,
    ],
    [{ type: 'services' }, /services: expected an array/],
    [{ type: 'go' }, /unknown message type "go"/],
  ];
  for (const [m, re] of bad)
    assert.throws(
      () => parseToSctp(m),
      (e: unknown) => e instanceof SctpThreadProtocolError && re.test(e.message),
    );
  assert.throws(() => parseFromSctp({ type: 'status', status: { associations: [] } }), /status: expected/);
  assert.deepEqual(parseFromSctp({ type: 'warn', msg: 'refused', err: 'x' }), {
    type: 'warn',
    msg: 'refused',
    err: 'x',
  });
  assert.deepEqual(parseFromSctp({ type: 'start-failed', message: 'NFQUEUE busy' }), {
    type: 'start-failed',
    message: 'NFQUEUE busy',
  });
});

test('the state-sync channel reaches the worker as a MessagePort; anything else is refused', async () => {
  const { MessageChannel } = await import('node:worker_threads');
  const { port1, port2 } = new MessageChannel();
  assert.deepEqual(parseToSctp({ type: 'sync', port: port1 }), { type: 'sync', port: port1 });
  assert.throws(
    () => parseToSctp({ type: 'sync', port: {} }),
    /sctp thread message: port: expected a MessagePort/,
  );
  port1.close();
  port2.close();
});
