// The Announcer the membership worker drives (contract.ts): the kernel one from src/l2 (ARP/NDP
// answers, gratuitous ARP / unsolicited NA). The recording announcer (holds the owned set for
// status, touches nothing in the kernel) serves unit tests and hosts without the native addon.
import type { Announcer, AnnouncerStatus, L2Candidate, OwnedAddresses } from './contract.js';
import { KernelAnnouncer, type KernelAnnouncerOptions } from '../l2/announcer.js';
import { loadFrameIo } from '../l2/native.js';
import { spawnRunner } from '../dataplane/exec.js';

export interface AnnouncerOptions {
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Burst, refresh and liveness settings (defaults in src/l2/announcer.ts). */
  readonly l2?: Pick<KernelAnnouncerOptions, 'burstCount' | 'burstIntervalMs' | 'refreshMs' | 'livenessMs'>;
}

/** Keeps what it was told: the owned addresses are 'announcing', the other candidates 'withdrawn'. */
export class RecordingAnnouncer implements Announcer {
  private all: ReadonlyMap<string, L2Candidate> = new Map();
  private owned = new Map<string, { interfaces: readonly string[]; since: number }>();
  private withdrawnSince = new Map<string, number>();
  readonly calls: { kind: 'candidates' | 'update'; addresses: string[] }[] = [];
  /** Record calls in `calls` (tests). */
  constructor(private readonly record = false) {}

  candidates(all: ReadonlyMap<string, L2Candidate>): Promise<void> {
    this.all = all;
    if (this.record) this.calls.push({ kind: 'candidates', addresses: [...all.keys()].sort() });
    return Promise.resolve();
  }

  update(owned: OwnedAddresses): Promise<void> {
    const now = Date.now();
    const next = new Map<string, { interfaces: readonly string[]; since: number }>();
    for (const [a, interfaces] of owned) next.set(a, { interfaces, since: this.owned.get(a)?.since ?? now });
    for (const a of this.owned.keys()) if (!owned.has(a)) this.withdrawnSince.set(a, now);
    for (const a of owned.keys()) this.withdrawnSince.delete(a);
    this.owned = next;
    if (this.record) this.calls.push({ kind: 'update', addresses: [...owned.keys()].sort() });
    return Promise.resolve();
  }

  status(): readonly AnnouncerStatus[] {
    const out: AnnouncerStatus[] = [];
    for (const [address, c] of this.all) {
      const o = this.owned.get(address);
      out.push(
        o
          ? { address, interfaces: o.interfaces, state: 'announcing', since: o.since }
          : {
              address,
              interfaces: c.interfaces,
              state: 'withdrawn',
              since: this.withdrawnSince.get(address) ?? 0,
            },
      );
    }
    return out;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The kernel announcer (src/l2); the recording one when the frame I/O addon is missing (said in the log). */
export function createAnnouncer(opts: AnnouncerOptions): Announcer {
  const text = (o: object, m: string) => (Object.keys(o).length > 0 ? `${m} ${JSON.stringify(o)}` : m);
  let frames;
  try {
    frames = loadFrameIo();
  } catch (e) {
    opts.log('error', `l2: ${(e as Error).message}; Layer 2 announces nothing`);
    return new RecordingAnnouncer();
  }
  return new KernelAnnouncer({
    run: spawnRunner(),
    frames,
    log: { info: (o, m) => opts.log('info', text(o, m)), warn: (o, m) => opts.log('warn', text(o, m)) },
    ...opts.l2,
  });
}
