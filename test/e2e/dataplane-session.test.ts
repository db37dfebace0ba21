// The persistent `nft -i` write path against a real kernel in a namespace: a transaction commits,
// a refused one commits nothing (atomic) and names the error, a child that dies or hangs is
// replaced, and an Applier commits through it (one process for many changes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { e2eSkipReason, nsExec, Topology } from '../support/netns.js';
import { NftSession } from '../../src/dataplane/nftsession.js';
import { Applier } from '../../src/dataplane/applier.js';
import { netnsRunner } from '../../src/dataplane/exec.js';
import type { DataplaneService } from '../../src/dataplane/types.js';

const skip = e2eSkipReason();

async function withNs(body: (ns: string) => Promise<void>) {
  const topo = new Topology();
  try {
    await body(await topo.addNs('sess'));
  } finally {
    await topo.cleanup();
  }
}

/** Process ids of this process's children running nft (the session's child). */
function nftChildren(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'nft' && ppid === process.pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const txDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('ferrolb-nft-'));

const listed = async (ns: string) => await nsExec(ns, 'nft', ['list', 'table', 'inet', 't']);

describe('nft session', { skip }, () => {
  it('commits, refuses atomically with the error text, and survives its child dying', async () => {
    const before = new Set(txDirs());
    await withNs(async (ns) => {
      const s = new NftSession(['ip', 'netns', 'exec', ns]);
      try {
        const ok = await s.run('add table inet t\nadd set inet t s { type ipv4_addr; }\n');
        assert.equal(ok.code, 0, ok.stderr);
        const pid = ok.pid;
        assert.ok(pid);
        // Two statements, the second refused: the first must not be committed either.
        const bad = await s.run(
          'add element inet t s { 10.0.0.1 }\nadd element inet t nosuch { 10.0.0.2 }\n',
        );
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /Error: .*No such file or directory/);
        assert.match(bad.stderr, /nosuch/);
        assert.doesNotMatch(await listed(ns), /10\.0\.0\.1/);
        // Same child for the next one, and errors do not leak into it.
        const next = await s.run('add element inet t s { 10.0.0.3 }\n');
        assert.equal(next.code, 0, next.stderr);
        assert.equal(next.stderr, '');
        assert.equal(next.pid, pid);
        assert.match(await listed(ns), /10\.0\.0\.3/);
        // The child is killed (by its pid, ours): the next transaction runs in a new one.
        process.kill(pid!, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 200));
        const after = await s.run('add element inet t s { 10.0.0.4 }\n');
        assert.equal(after.code, 0, after.stderr);
        assert.notEqual(after.pid, pid);
        assert.match(await listed(ns), /10\.0\.0\.4/);
        // A syntax error in the transaction is a refusal, not a lost marker.
        const syntax = await s.run('add element inet t s { 10.0.0.5\n');
        assert.equal(syntax.code, 1);
        assert.match(syntax.stderr, /syntax error/);
        const last = await s.run('add element inet t s { 10.0.0.6 }\n');
        assert.equal(last.code, 0, last.stderr);
      } finally {
        await s.close();
      }
    });
    // Every transaction's file is gone once nft answered.
    assert.deepEqual(
      txDirs().filter((d) => !before.has(d)),
      [],
    );
  });

  it('kills a transaction that overruns its time and reports it lost', async () => {
    await withNs(async (ns) => {
      // `sleep` (exec'd in place of nft, so killing the child kills it) stands in for a stuck nft.
      const hung = new NftSession(['ip', 'netns', 'exec', ns, 'sh', '-c', 'exec sleep 30'], 300);
      try {
        const r = await hung.run('add table inet t\n');
        assert.equal(r.code, -1);
        assert.match(r.stderr, /no answer in \d+ ms/);
      } finally {
        await hung.close();
      }
    });
  });

  it('an Applier commits many changes through one nft process', async () => {
    await withNs(async (ns) => {
      const run = netnsRunner(ns);
      const a = new Applier({ run, vipInterface: false, table: 't' });
      const svc = (n: number): DataplaneService => ({
        name: 'web',
        addresses: ['10.200.0.1'],
        ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
        mode: 'default',
        algorithm: 'roundrobin',
        endpoints: Array.from({ length: n }, (_, i) => ({
          address: `10.201.0.${i + 1}`,
          weight: 1,
          state: 'active' as const,
        })),
      });
      try {
        for (const n of [1, 2, 3, 2]) {
          const r = await a.apply([svc(n)]);
          assert.ok(r.statements > 0);
        }
        const text = await listed(ns);
        assert.match(text, /10\.201\.0\.2/);
        assert.doesNotMatch(text, /10\.201\.0\.3/);
        // Our children named nft: exactly one, and every commit was its.
        const kids = nftChildren();
        assert.equal(kids.length, 1);
        assert.ok(a.isOwnTransaction(kids[0]!));
      } finally {
        await a.shutdown(false);
      }
      assert.equal((await nsExec(ns, 'nft', ['list', 'tables'])).trim(), '');
    });
  });
});
