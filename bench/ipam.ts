// IPAM benchmark: 100k services allocated from a /15, cold and on restart (all sticky), with the
// whole-config validation measured separately. Baseline in the same run: a plain loop that only
// walks the same 100k addresses as bigints, i.e. the floor any allocator pays.
import { performance } from 'node:perf_hooks';
import { allocate } from '../src/ipam/allocator.js';
import { buildDesiredState } from '../src/model/validate.js';
import type { StoredObject } from '../src/model/types.js';

export interface IpamBenchResult {
  services: number;
  poolSize: number;
  validateMs: number;
  allocateColdMs: number;
  allocateRestartMs: number;
  baselineWalkMs: number;
  coldPerAllocationUs: number;
  coldVsBaseline: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export function runIpamBench(services = 100_000, rounds = 3): IpamBenchResult {
  const objects: StoredObject[] = [
    {
      origin: 'file',
      object: {
        apiVersion: 'ferrolb.io/v1',
        kind: 'IPAddressPool',
        metadata: { name: 'big' },
        spec: { addresses: ['10.64.0.0/15'] },
      },
    },
  ];
  for (let i = 0; i < services; i++) {
    objects.push({
      origin: 'api',
      object: {
        apiVersion: 'ferrolb.io/v1',
        kind: 'LoadBalancer',
        metadata: { name: `svc-${i}` },
        spec: { pool: 'big', ports: [{ port: 80 }] },
      },
    });
  }
  const t0 = performance.now();
  const built = buildDesiredState(objects);
  const validateMs = performance.now() - t0;
  if (!built.state) throw new Error('bench config invalid');
  const state = built.state;

  const cold: number[] = [];
  const restart: number[] = [];
  const walk: number[] = [];
  let sink = 0n;
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    const first = allocate(state, new Map());
    cold.push(performance.now() - t);
    if ([...first.status.values()].some((s) => s.phase !== 'Allocated'))
      throw new Error('bench: pool too small');
    t = performance.now();
    allocate(state, first.allocations);
    restart.push(performance.now() - t);
    t = performance.now();
    const seen = new Set<bigint>();
    for (let v = 0n; v < BigInt(services); v++) seen.add(v + 0x0a400000n);
    sink += BigInt(seen.size);
    walk.push(performance.now() - t);
  }
  if (sink === 0n) throw new Error('unreachable');
  const allocateColdMs = median(cold);
  const baselineWalkMs = median(walk);
  return {
    services,
    poolSize: 1 << 17,
    validateMs: Math.round(validateMs),
    allocateColdMs: Math.round(allocateColdMs),
    allocateRestartMs: Math.round(median(restart)),
    baselineWalkMs: Math.round(baselineWalkMs),
    coldPerAllocationUs: Number(((allocateColdMs * 1000) / services).toFixed(2)),
    coldVsBaseline: Number((allocateColdMs / baselineWalkMs).toFixed(1)),
  };
}
