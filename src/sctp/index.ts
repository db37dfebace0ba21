// Public surface of the SCTP multihoming subsystem (pure core). The queue I/O shell lives elsewhere
// and feeds packets into SctpNatEngine.handle().
export { SctpNatEngine, hashSelector, describeEntry, type EndpointSelector } from './engine/engine.js';
export * from './engine/types.js';
export { crc32c, sctpChecksum } from './crc32c.js';
export * as codec from './codec/index.js';
export { sctpRows, type SctpRows } from './view.js';
export { SctpQueueShell, type QueueShellOptions, type QueueStats } from './shell/queue.js';
export { loadPacketIo, NativeUnavailableError, type PacketIo } from './shell/native.js';
export { fastPathTable, fastPathScript, PathIds, DEFAULT_NAMES as FAST_PATH_NAMES } from './kernel/nft.js';
