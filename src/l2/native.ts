// Layer 2 frame I/O from the native addon (native/packet.c, built into ferrolb_nfqueue.node).
// Loaded per thread (the announcer runs in the cluster worker); N-API addons load in workers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface CaptureHandle {
  readonly __brand: 'capture';
}

export interface FrameIo {
  /** Sends one complete Ethernet frame on the interface with this index. Throws on a kernel error. */
  sendFrame(ifindex: number, frame: Uint8Array): void;
  /** Receives ARP frames and Neighbour Advertisements from others (not our own), in batches. */
  openCapture(onFrames: (frames: Buffer[], ifindexes: number[]) => void): CaptureHandle;
  closeCapture(h: CaptureHandle): void;
}

export class FrameIoUnavailableError extends Error {
  constructor(readonly tried: string[]) {
    super(`Layer 2 frame I/O addon not built (tried ${tried.join(', ')}); run: npm run build`);
    this.name = 'FrameIoUnavailableError';
  }
}

/** Finds native/build/Release/ferrolb_nfqueue.node from both src/ and dist/src/ layouts. */
export function loadFrameIo(): FrameIo {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const tried = ['../../native', '../../../native'].map(
    (rel) => `${here}${rel}/build/Release/ferrolb_nfqueue.node`,
  );
  const found = tried.find((p) => existsSync(p));
  if (!found) throw new FrameIoUnavailableError(tried);
  const m = createRequire(import.meta.url)(found) as Partial<FrameIo>;
  if (typeof m.sendFrame !== 'function')
    throw new FrameIoUnavailableError([`${found} (no sendFrame: rebuild)`]);
  return m as FrameIo;
}
