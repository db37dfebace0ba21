// `npm run demo` (as root): the product in network namespaces, act by act — the kernel data plane
// with real HTTP/UDP/SCTP traffic, BGP to a real BIRD and the live status page; then a multihomed SCTP
// association surviving a path cut; then Layer 2 failover in a three-node Cluster (takeover time,
// zero moves on return). Everything an act creates is removed at its end, pass or fail: the host is
// left as it was found.
import { dataplaneAct } from './demo/act-dataplane.js';
import { sctpAct } from './demo/act-sctp.js';
import { l2Act } from './demo/act-l2.js';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the demo builds network namespaces: run it as root');
  await dataplaneAct();
  await sctpAct();
  await l2Act();
  console.log('\ndemo done');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
