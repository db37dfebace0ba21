// Public surface of the SCTP/IP codec.
export * from './errors.js';
export * from './ip.js';
export * from './packet.js';
export * from './params.js';
export * from './chunks.js';
