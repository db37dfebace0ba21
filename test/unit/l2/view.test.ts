import { it } from 'node:test';
import assert from 'node:assert/strict';
import { l2Rows, l2View } from '../../../src/l2/view.js';
import type { ClusterStatus } from '../../../src/cluster/status.js';

it('get l2: owner from the election, interface and state from this node’s announcer', () => {
  const st: ClusterStatus = {
    configured: true,
    running: true,
    self: 'lb1',
    members: [],
    owned: 2,
    owners: [
      { address: '10.0.0.2', owner: 'lb2', since: 1000, nodes: ['lb1', 'lb2'] },
      { address: '10.0.0.1', owner: 'lb1', since: 2000, nodes: ['lb1', 'lb2'] },
      { address: '10.0.0.3', owner: null, since: 0, nodes: [] },
      { address: '10.0.0.4', owner: 'lb1', since: 3000, nodes: ['lb1'] },
    ],
    announcer: [
      { address: '10.0.0.1', interfaces: ['eth0'], state: 'announcing', since: 2001 },
      { address: '10.0.0.2', interfaces: [], state: 'withdrawn', since: 0 },
      {
        address: '10.0.0.4',
        interfaces: [],
        state: 'failed',
        since: 3000,
        error: 'interface eth9 not present on this node',
      },
    ],
  };
  const v = l2View(st);
  assert.deepEqual(
    v.items.map((e) => [e.address, e.owner, e.interfaces, e.state, e.error ?? '']),
    [
      ['10.0.0.1', 'lb1', ['eth0'], 'announcing', ''],
      ['10.0.0.2', 'lb2', [], 'standby', ''],
      ['10.0.0.3', null, [], 'unowned', ''],
      ['10.0.0.4', 'lb1', [], 'failed', 'interface eth9 not present on this node'],
    ],
  );
  const wide = l2Rows(v, true);
  assert.deepEqual(wide.headers, ['ADDRESS', 'OWNER', 'INTERFACE', 'SINCE', 'STATE', 'ELIGIBLE', 'ERROR']);
  assert.deepEqual(wide.rows[0], [
    '10.0.0.1',
    'lb1',
    'eth0',
    '1970-01-01T00:00:02Z',
    'announcing',
    'lb1,lb2',
    '',
  ]);
  assert.deepEqual(l2Rows(v, false).rows[2], ['10.0.0.3', '<none>', '-', '-', 'unowned']);
});
