// Loads the packet I/O addon (native/, built by node-gyp). Typed here so nothing else touches `any`.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export interface NfqueueHandle {
  readonly __brand: 'nfqueue';
}

export interface PacketIo {
  open(queueNum: number, onPackets: (ids: number[], packets: Buffer[]) => void): NfqueueHandle;
  verdict(h: NfqueueHandle, id: number, accept: boolean, payload?: Uint8Array): void;
  close(h: NfqueueHandle): void;
  sendRaw(family: 4 | 6, dst: Uint8Array, packet: Uint8Array): void;
}

export class NativeUnavailableError extends Error {
  constructor(readonly tried: string[]) {
    super(`packet I/O addon not built (tried ${tried.join(', ')}); run: npx node-gyp rebuild -C native`);
    this.name = 'NativeUnavailableError';
  }
}

/** Finds native/build/Release/ferrolb_nfqueue.node from both src/ (ts-node) and dist/src/ layouts. */
export function loadPacketIo(): PacketIo {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const tried = ['../../../native', '../../../../native'].map(
    (rel) => `${here}${rel}/build/Release/ferrolb_nfqueue.node`,
  );
  const found = tried.find((p) => existsSync(p));
  if (!found) throw new NativeUnavailableError(tried);
  return createRequire(import.meta.url)(found) as PacketIo;
}
