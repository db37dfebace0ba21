// Public surface of the SCTP multihoming subsystem: the pure engine and codec, the nft fast-path
// compiler, rows for ferroctl, and the NFQUEUE shell (which needs the native addon at run time only).
export { SctpNatEngine, hashSelector, describeEntry, type EndpointSelector } from './engine/engine.js';
export * from './engine/types.js';
export { crc32c, sctpChecksum } from './crc32c.js';
export * as codec from './codec/index.js';
export { sctpRows, type SctpRows } from './view.js';
export { SctpQueueShell, type QueueShellOptions, type QueueStats } from './shell/queue.js';
export { loadPacketIo, NativeUnavailableError, type PacketIo } from './shell/native.js';
export {
  fastPathTable,
  fastPathScript,
  parseCounters,
  tupleKey,
  PathIds,
  DEFAULT_NAMES as FAST_PATH_NAMES,
} from './kernel/nft.js';
