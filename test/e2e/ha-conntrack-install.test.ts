// Kernel conntrack replication, install path against the real kernel: a DNAT flow made in one
// namespace (the active LB) is read from `conntrack -L -o extended`, carried as a SyncRecord, and
// installed with `conntrack -I` in another namespace (the standby), which then holds the same
// original and reply tuples (the NAT mapping) — what a standby needs to forward the flow unchanged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason, nsExec, Topology } from '../support/netns.js';
import { flowKey, fromRecord, installArgs, parseCtLine, toRecord } from '../../src/dataplane/ct-replica.js';

const skip = e2eSkipReason();
const NAT = `table ip flha {
  chain out {
    type nat hook output priority -100;
    ip daddr 10.99.0.1 tcp dport 80 dnat to 127.0.0.1:8080
  }
}
`;

describe('conntrack replica install', { skip }, () => {
  it('a DNAT flow of the active namespace is installed in the standby with its NAT mapping', async () => {
    const topo = new Topology();
    try {
      const a = await topo.addNs('cta');
      const b = await topo.addNs('ctb');
      for (const ns of [a, b]) {
        await nsExec(ns, 'sh', ['-c', `printf '%s' '${NAT}' | nft -f -`]);
        await nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1']);
        await nsExec(ns, 'ip', ['addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
      }
      // One connection held open while the table is read (bounded: the script ends itself).
      const listing = await nsExec(a, 'python3', [
        '-c',
        `import socket,subprocess
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('127.0.0.1',8080)); s.listen()
c=socket.create_connection(('10.99.0.1',80),timeout=5); x,_=s.accept(); c.send(b'x'); x.recv(1)
print(subprocess.run(['conntrack','-L','-o','extended','-p','tcp','--orig-port-dst','80'],capture_output=True,text=True,timeout=5).stdout)`,
      ]);
      const flows = listing
        .split('\n')
        .map(parseCtLine)
        .filter((e) => e !== undefined);
      assert.equal(flows.length, 1, listing);
      const rec = toRecord(flows[0]!);
      await nsExec(b, 'conntrack', installArgs(fromRecord(rec), '-I'));
      const there = (await nsExec(b, 'conntrack', ['-L', '-o', 'extended', '-p', 'tcp']))
        .split('\n')
        .map(parseCtLine)
        .filter((e) => e !== undefined);
      assert.equal(there.length, 1);
      const got = there[0]!.flow;
      const want = flows[0]!.flow;
      assert.equal(flowKey(got), flowKey(want));
      // The reply tuple is not passed on install: the kernel computed it from the NAT binding, so
      // this holds only if the binding (and its NAT bits) was made.
      assert.deepEqual(got.reply, want.reply, 'the DNAT mapping (reply tuple) is the same');
      assert.equal(got.state, 'ESTABLISHED');
    } finally {
      await topo.cleanup();
    }
  });
});
