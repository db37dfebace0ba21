// The Announcer the membership worker drives (contract.ts). The kernel side (ARP/NDP answers,
// gratuitous ARP / unsolicited NA) is src/l2's: until it is wired in here, the worker uses this
// recording announcer, which holds the owned set for status and touches nothing in the kernel.
// Replace `createAnnouncer` (one place) to plug in the real one.
import type { Announcer, AnnouncerStatus, L2Candidate, OwnedAddresses } from './contract.js';

export interface AnnouncerOptions {
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
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

export function createAnnouncer(_opts: AnnouncerOptions): Announcer {
  return new RecordingAnnouncer();
}
