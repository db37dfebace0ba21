// A sliced family (src/shell/metrics.ts) must read exactly like prom-client's own rendering of the
// same series: scrapers, the Grafana dashboard and promtool see no difference.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { ServingRegistry } from '../../../src/shell/metrics.js';

test('ServingRegistry: sliced families print what prom-client prints for the same series', async () => {
  const rows: [string[], number][] = [
    [['web', '10.0.0.1'], 1],
    [['we"b\\x\nz', '2001:db8::1'], 0],
    [['api', '10.0.0.2'], 12345678901],
  ];
  const help = 'Help with a \\ and a\nnewline';
  const ref = new Registry();
  const g = new Gauge({ name: 'x_up', help, labelNames: ['service', 'endpoint'], registers: [ref] });
  for (const [[service, endpoint], v] of rows) g.set({ service: service!, endpoint: endpoint! }, v);
  const c = new Counter({ name: 'x_total', help: 'n', labelNames: ['service'], registers: [ref] });
  c.inc({ service: 'web' }, 7);

  const ours = new ServingRegistry();
  ours.addSliced({
    name: 'x_up',
    help,
    type: 'gauge',
    labelNames: ['service', 'endpoint'],
    rows: async () => rows,
  });
  ours.addSliced({
    name: 'x_total',
    help: 'n',
    type: 'counter',
    labelNames: ['service'],
    rows: async () => [[['web'], 7]],
  });
  assert.equal(await ours.metrics(), await ref.metrics());
});

test('ServingRegistry: many series are written without holding the event loop in one piece', async () => {
  const r = new ServingRegistry();
  const n = 200_000;
  r.addSliced({
    name: 'y',
    help: 'h',
    type: 'gauge',
    labelNames: ['i'],
    rows: async () =>
      (function* () {
        for (let i = 0; i < n; i++) yield [[String(i)], i] as const;
      })(),
  });
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  const text = await r.metrics();
  clearInterval(tick);
  assert.equal(text.split('\n').filter((l) => l.startsWith('y{')).length, n);
  assert.ok(turns > 0, 'timers ran while the scrape was being written');
});
