// Public surface of the pure BGP codec.
export * from './errors.js';
export * from './prefix.js';
export * from './open.js';
export * from './attributes.js';
export { encodeMpReach, encodeMpUnreach } from './mp.js';
export * from './update.js';
export * from './message.js';
