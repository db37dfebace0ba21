// Public surface of the SCTP multihoming subsystem (pure core). The queue I/O shell lives elsewhere
// and feeds packets into SctpNatEngine.handle().
export { SctpNatEngine, hashSelector, describeEntry, type EndpointSelector } from './engine/engine.js';
export * from './engine/types.js';
export { crc32c, sctpChecksum } from './crc32c.js';
export * as codec from './codec/index.js';
