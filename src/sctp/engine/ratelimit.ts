// INIT rate limits: token buckets with time as an argument (pure, reproducible). One bucket per source
// address in a bounded map (least recently seen evicted first, so a spoofed flood cannot grow it), and
// one global bucket. A flooding source exhausts only its own bucket; the global one bounds what
// spoofed sources can make the LB forward (every forwarded INIT is answered by an endpoint).
import type { IpAddr } from '../../net/ip.js';
import { ipKey } from './association.js';

class Bucket {
  constructor(
    private tokens: number,
    private at: number,
  ) {}
  take(rate: number, burst: number, nowMs: number): boolean {
    this.tokens = Math.min(burst, this.tokens + (Math.max(0, nowMs - this.at) * rate) / 1000);
    this.at = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface InitRateLimits {
  readonly initRatePerSource: number;
  readonly initBurstPerSource: number;
  readonly initRateGlobal: number;
  readonly initBurstGlobal: number;
  readonly maxInitSources: number;
}

export class InitRateLimiter {
  private readonly sources = new Map<string, Bucket>();
  private global: Bucket | undefined;

  constructor(private readonly l: InitRateLimits) {}

  /** undefined when the INIT may pass; else which limit refused it. */
  admit(src: IpAddr, nowMs: number): 'init-rate-source' | 'init-rate-global' | undefined {
    const L = this.l;
    if (L.initRatePerSource > 0) {
      const k = ipKey(src);
      let b = this.sources.get(k);
      if (b)
        this.sources.delete(k); // re-inserted below: Map order is recency order
      else {
        b = new Bucket(L.initBurstPerSource, nowMs);
        while (this.sources.size >= L.maxInitSources) {
          const oldest = this.sources.keys().next().value as string;
          this.sources.delete(oldest);
        }
      }
      this.sources.set(k, b);
      if (!b.take(L.initRatePerSource, L.initBurstPerSource, nowMs)) return 'init-rate-source';
    }
    if (L.initRateGlobal > 0) {
      this.global ??= new Bucket(L.initBurstGlobal, nowMs);
      if (!this.global.take(L.initRateGlobal, L.initBurstGlobal, nowMs)) return 'init-rate-global';
    }
    return undefined;
  }

  get trackedSources(): number {
    return this.sources.size;
  }
}
