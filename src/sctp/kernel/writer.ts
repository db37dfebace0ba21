// One long-lived, asynchronous, batched writer of fast-path scripts: every script queued while a
// write is in flight (or within the same tick) goes to the kernel in one `nft -f -`, so the packet
// path never waits on a synchronous spawn and a burst of INIT-ACKs costs one spawn, not one each.
// Scripts keep their order (PathIds hands out ids in script order). nft applies a file atomically:
// when a batch fails, its scripts are retried one by one so one bad entry fails only its own packet.
export type NftScriptRunner = (script: string) => Promise<void>;

export interface WriterStats {
  /** nft runs (batches and one-by-one retries). */
  writes: number;
  scripts: number;
  failures: number;
  /** Largest number of scripts in one batch. */
  largestBatch: number;
}

export class NftBatchWriter {
  private pending: { script: string; done: (ok: boolean) => void }[] = [];
  private busy = false;
  readonly stats: WriterStats = { writes: 0, scripts: 0, failures: 0, largestBatch: 0 };

  constructor(
    private readonly run: NftScriptRunner,
    private readonly onError: (err: unknown, script: string) => void = () => undefined,
    /** Defers the first write of a burst so one tick's scripts share it (setImmediate by default). */
    private readonly defer: (fn: () => void) => void = (fn) => void setImmediate(fn),
  ) {}

  /** Resolves true once the script is in the kernel, false if nft refused it. Never rejects. */
  write(script: string): Promise<boolean> {
    return new Promise<boolean>((done) => {
      this.pending.push({ script, done });
      this.stats.scripts++;
      if (!this.busy) {
        this.busy = true;
        this.defer(() => void this.drain());
      }
    });
  }

  /** Resolves when everything queued so far has been written (or failed). */
  async idle(): Promise<void> {
    if (!this.busy) return;
    await this.write('');
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      const script = batch.map((b) => b.script).join('');
      if (script === '' || (await this.attempt(script))) {
        for (const b of batch) b.done(true);
        continue;
      }
      if (batch.length === 1) {
        this.fail(batch[0]!);
        continue;
      }
      for (const b of batch)
        if (b.script === '' || (await this.attempt(b.script))) b.done(true);
        else this.fail(b);
    }
    this.busy = false;
  }

  private lastError: unknown;

  private async attempt(script: string): Promise<boolean> {
    this.stats.writes++;
    try {
      await this.run(script);
      return true;
    } catch (e) {
      this.lastError = e;
      return false;
    }
  }

  private fail(b: { script: string; done: (ok: boolean) => void }): void {
    this.stats.failures++;
    this.onError(this.lastError, b.script);
    b.done(false);
  }
}

/** Runs `nft -f -` asynchronously with the script on stdin; rejects with nft's message. */
export function nftFileRunner(
  exec: (cmd: string, args: string[], input: string) => Promise<{ code: number; stderr: string }>,
): NftScriptRunner {
  return async (script) => {
    const r = await exec('nft', ['-f', '-'], script);
    if (r.code !== 0) throw new Error(`nft -f - exited ${r.code}: ${r.stderr.trim()}`);
  };
}
