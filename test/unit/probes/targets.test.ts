import test from 'node:test';
import assert from 'node:assert/strict';
import { probeTargets, type ProbedService } from '../../../src/probes/targets.js';

const hc = {
  type: 'tcp' as const,
  intervalMs: 5000,
  timeoutMs: 1000,
  unhealthyThreshold: 3,
  healthyThreshold: 1,
};

test('one target per (service, endpoint address); probe port defaults to the first target port', () => {
  const lbs = new Map<string, ProbedService>([
    [
      'web',
      {
        endpoints: [{ address: '10.0.0.1' }, { address: 'fd00::1' }, { address: '10.0.0.1' }],
        ports: [{ targetPort: 8080 }, { targetPort: 8443 }],
        healthCheck: hc,
      },
    ],
    [
      'amf',
      {
        endpoints: [{ address: '10.0.0.1' }],
        ports: [{ targetPort: 38412 }],
        healthCheck: { ...hc, type: 'sctp', port: 9 },
      },
    ],
  ]);
  const t = probeTargets(lbs);
  assert.deepEqual(
    t.map((x) => [x.service, x.endpoint, x.targetPort, x.check.port ?? null]),
    [
      ['web', '10.0.0.1', 8080, null],
      ['web', 'fd00::1', 8080, null],
      ['amf', '10.0.0.1', 38412, 9],
    ],
  );
});

test('a service without endpoints yields no targets', () => {
  assert.deepEqual(probeTargets(new Map([['x', { endpoints: [], ports: [], healthCheck: hc }]])), []);
});
