import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../../../src/cli/table.js';
import { formatLoadBalancers } from '../../../src/cli/format.js';
import type { LoadBalancerView } from '../../../src/state/views.js';

describe('CLI tables', () => {
  it('pads every column to its widest cell and trims the last', () => {
    assert.equal(
      renderTable(
        ['A', 'BB'],
        [
          ['xyz', '1'],
          ['', '22'],
        ],
      ),
      'A     BB\nxyz   1\n      22\n',
    );
  });

  it('renders far more rows than a spread argument list can hold (400k rows, 50k services × 8 wide)', () => {
    const rows = Array.from({ length: 400_000 }, (_, i) => [`svc-${i}`, String(i % 7)]);
    rows[123_456] = ['the-widest-name-of-all', 'x'];
    const out = renderTable(['NAME', 'N'], rows);
    const lines = out.split('\n');
    assert.equal(lines.length, 400_002);
    assert.equal(lines[1], `svc-0${' '.repeat(22 - 5)}   0`);
  });

  it('-o wide of 20k services × 8 endpoints (160k rows) renders one row per endpoint', () => {
    const lb = (i: number): LoadBalancerView => ({
      name: `svc-${i}`,
      namespace: 'default',
      addresses: [`10.64.${i >> 8}.${i & 255}`],
      secondaryAddresses: [],
      pool: 'vips',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
      mode: 'fullnat',
      algorithm: 'roundrobin',
      healthCheck: 'none',
      sourceRanges: [],
      endpoints: Array.from({ length: 8 }, (_, k) => ({
        address: `10.128.${i >> 5}.${((i & 31) << 3) + k}`,
        port: 8080,
        servicePort: 80,
        protocol: 'TCP',
        weight: 1,
        state: 'active' as const,
      })),
      status: { phase: 'Allocated' },
    });
    const out = formatLoadBalancers(
      Array.from({ length: 20_000 }, (_, i) => lb(i)),
      'wide',
    );
    assert.equal(out.trimEnd().split('\n').length, 1 + 160_000);
  });
});
