// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it (the JS client has none).
// The decision is pure: whether a Lease may be taken is judged by when *we* last saw its record
// change (local clock), never by comparing our clock with the holder's renewTime — clocks differ.
// The shell renews every retry period; a leader that cannot renew within the renew deadline steps
// down before its lease can expire anywhere else, so two leaders never act at once. On shutdown the
// leader releases the Lease (empty holder) so a successor takes over at once, not after expiry.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';

export interface LeaseRecord {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

export interface Observation {
  /** The record as last seen, and when (our clock) it last changed. */
  readonly record: LeaseRecord;
  readonly observedAtMs: number;
}

export type LeaseAction = 'acquire' | 'renew' | 'wait';

/** Pure: may `identity` take or keep the lease now? */
export function decide(
  obs: Observation | undefined,
  identity: string,
  nowMs: number,
  defaultDurationMs: number,
): LeaseAction {
  if (!obs) return 'acquire';
  const holder = obs.record.holderIdentity ?? '';
  if (holder === identity) return 'renew';
  if (holder === '') return 'acquire';
  const dur = (obs.record.leaseDurationSeconds ?? defaultDurationMs / 1000) * 1000;
  return nowMs >= obs.observedAtMs + dur ? 'acquire' : 'wait';
}

/** Pure: the next observation after reading `record` at `nowMs`. */
export function observe(prev: Observation | undefined, record: LeaseRecord, nowMs: number): Observation {
  const same =
    prev &&
    prev.record.holderIdentity === record.holderIdentity &&
    prev.record.renewTime === record.renewTime &&
    prev.record.leaseTransitions === record.leaseTransitions;
  return same ? prev : { record, observedAtMs: nowMs };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (a JS ISO string has three). */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export interface LeaderElectorOptions {
  readonly api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs?: number; // 15 s
  readonly renewDeadlineMs?: number; // 10 s
  readonly retryPeriodMs?: number; // 2 s
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly log?: (msg: string, extra?: Record<string, unknown>) => void;
  readonly now?: () => number;
}

export class LeaderElector {
  private obs: Observation | undefined;
  private lease: V1Lease | undefined;
  private leading = false;
  private lastRenewMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private tick: Promise<void> = Promise.resolve();

  constructor(private readonly o: LeaderElectorOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.tick = this.step().finally(() => this.schedule(this.o.retryPeriodMs ?? 2000));
    }, ms);
  }

  /** One round: read, decide, write. Every failure just means "not this round". */
  private async step(): Promise<void> {
    const durationMs = this.o.leaseDurationMs ?? 15_000;
    const deadline = this.o.renewDeadlineMs ?? 10_000;
    try {
      try {
        this.lease = await this.o.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
        this.obs = observe(this.obs, (this.lease.spec ?? {}) as LeaseRecord, this.now());
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e;
        this.lease = undefined;
        this.obs = undefined;
      }
      const action = decide(this.obs, this.o.identity, this.now(), durationMs);
      if (action === 'wait') {
        if (this.leading) this.stepDown('another holder owns the lease');
        return;
      }
      await this.write(action, durationMs);
      this.lastRenewMs = this.now();
      if (!this.leading) {
        this.leading = true;
        this.o.log?.('became leader', { lease: this.o.name, identity: this.o.identity });
        this.o.onStartedLeading();
      }
    } catch (e) {
      this.o.log?.('lease update failed', { error: (e as Error).message });
      if (this.leading && this.now() - this.lastRenewMs >= deadline) this.stepDown('renew deadline passed');
    }
  }

  private async write(action: 'acquire' | 'renew', durationMs: number): Promise<void> {
    const now = microTime(this.now());
    const prev = (this.lease?.spec ?? {}) as LeaseRecord & { acquireTime?: string };
    const spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.ceil(durationMs / 1000),
      acquireTime: action === 'acquire' ? now : (prev.acquireTime ?? now),
      renewTime: now,
      leaseTransitions: (prev.leaseTransitions ?? 0) + (action === 'acquire' && prev.holderIdentity ? 1 : 0),
    };
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.o.name, namespace: this.o.namespace },
      spec,
    } as unknown as V1Lease;
    if (!this.lease) {
      this.lease = await this.o.api.createNamespacedLease({ namespace: this.o.namespace, body });
    } else {
      body.metadata = { ...body.metadata, resourceVersion: this.lease.metadata?.resourceVersion as string };
      this.lease = await this.o.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body,
      });
    }
    this.obs = { record: spec, observedAtMs: this.now() };
  }

  private stepDown(why: string): void {
    this.leading = false;
    this.o.log?.('stopped leading', { why });
    this.o.onStoppedLeading();
  }

  /** Stop campaigning; a leader gives the lease up so a successor need not wait for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.tick;
    if (!this.leading || !this.lease) return;
    this.leading = false;
    this.o.onStoppedLeading();
    try {
      const spec = {
        ...(this.lease.spec ?? {}),
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: microTime(this.now()),
      };
      await this.o.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: { ...this.lease, spec: spec as unknown as V1Lease['spec'] },
      });
    } catch (e) {
      this.o.log?.('lease release failed; it will expire', { error: (e as Error).message });
    }
  }
}
