// The State Cookie the LB hands out in place of the responder's. Normally a 16-byte token that
// indexes the real cookie in the association (plainToken). Under an INIT flood a sealed one (RFC 9260
// §5.1.3 gives a responder the same trick: keep no state until COOKIE-ECHO): AES-256-GCM under a key
// only this engine knows, holding two things:
//  - the responder's real cookie: BSD/usrsctp cookies name the responder's own addresses in clear, so
//    the real one must never cross the LB;
//  - the association as it stood at INIT-ACK (the handshake record of replica.ts).
// A COOKIE-ECHO therefore needs no half-open state: an INIT flood that pushed the association out of
// the bounded half-open table does not stop a client whose handshake completes in time — the engine
// rebuilds the association from the token. Forged, damaged or foreign tokens fail authentication.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { crc32c } from '../crc32c.js';

const MAGIC = Uint8Array.of(0x46, 0x4c, 0x42, 0x73); // "FLBs"
const PLAIN = Uint8Array.of(0x46, 0x4c, 0x42, 0x63); // "FLBc"
const NONCE = 12;
const TAG = 16;
/** Plaintext header: association id (u32), created at (f64 ms), record length (u16). */
const HEAD = 4 + 8 + 2;

export interface CookieContents {
  /** The engine-local id of the association the token was made for. */
  readonly id: number;
  /** Engine time the token was made (its age bounds a rebuild). */
  readonly createdMs: number;
  /** The handshake record (replica.ts encodeHandshake). */
  readonly record: Uint8Array;
  /** The responder's own State Cookie, byte-exact. */
  readonly cookie: Uint8Array;
}

export class CookieSealer {
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private counter = 0n;
  private serial = 0;

  /** `key`: 32 bytes (tests pass one; an engine makes its own, so tokens die with the process). */
  constructor(key?: Uint8Array) {
    if (key && key.length !== 32) throw new RangeError(`cookie key: ${key.length} bytes (needs 32)`);
    this.key = Buffer.from(key ?? randomBytes(32));
    this.salt = randomBytes(4);
  }

  /**
   * The cheap token of an association the table holds: "FLBc", id, a serial, the cookie's CRC. It
   * hides the cookie but carries nothing: without the table's entry it is worthless.
   */
  plainToken(id: number, cookie: Uint8Array): Uint8Array {
    const t = Buffer.allocUnsafe(16);
    t.set(PLAIN, 0);
    t.writeUInt32BE(id >>> 0, 4);
    t.writeUInt32BE(this.serial++ >>> 0, 8);
    t.writeUInt32BE(crc32c(cookie), 12);
    return t;
  }

  /** Size of a token for these contents (for callers that bound packet sizes). */
  static sizeOf(recordLength: number, cookieLength: number): number {
    return MAGIC.length + NONCE + HEAD + recordLength + cookieLength + TAG;
  }

  seal(c: CookieContents): Uint8Array {
    if (c.record.length > 0xffff) throw new RangeError(`cookie record: ${c.record.length} bytes`);
    // A counter nonce under a per-engine key never repeats; the salt keeps two engines with a shared
    // key (should one ever be configured) apart.
    const nonce = Buffer.alloc(NONCE);
    this.salt.copy(nonce, 0);
    nonce.writeBigUInt64BE(this.counter++ & 0xffffffffffffffffn, 4);
    // One plaintext buffer, one update, one output buffer: this runs for every INIT-ACK of a flood.
    const plain = Buffer.allocUnsafe(HEAD + c.record.length + c.cookie.length);
    plain.writeUInt32BE(c.id >>> 0, 0);
    plain.writeDoubleBE(c.createdMs, 4);
    plain.writeUInt16BE(c.record.length, 12);
    plain.set(c.record, HEAD);
    plain.set(c.cookie, HEAD + c.record.length);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(MAGIC);
    const out = Buffer.allocUnsafe(MAGIC.length + NONCE + plain.length + TAG);
    out.set(MAGIC, 0);
    nonce.copy(out, MAGIC.length);
    cipher.update(plain).copy(out, MAGIC.length + NONCE);
    cipher.final();
    cipher.getAuthTag().copy(out, out.length - TAG);
    return out;
  }

  /** The contents, or undefined for anything this engine did not seal (or that was changed since). */
  open(token: Uint8Array): CookieContents | undefined {
    if (token.length < MAGIC.length + NONCE + HEAD + TAG) return undefined;
    for (let i = 0; i < MAGIC.length; i++) if (token[i] !== MAGIC[i]) return undefined;
    const b = Buffer.from(token.buffer, token.byteOffset, token.length);
    const nonce = b.subarray(MAGIC.length, MAGIC.length + NONCE);
    const body = b.subarray(MAGIC.length + NONCE, b.length - TAG);
    let plain: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, nonce);
      d.setAAD(MAGIC);
      d.setAuthTag(b.subarray(b.length - TAG));
      plain = Buffer.concat([d.update(body), d.final()]);
    } catch {
      return undefined; // authentication failed
    }
    const recLen = plain.readUInt16BE(12);
    if (HEAD + recLen > plain.length) return undefined;
    return {
      id: plain.readUInt32BE(0),
      createdMs: plain.readDoubleBE(4),
      record: new Uint8Array(plain.subarray(HEAD, HEAD + recLen)),
      cookie: new Uint8Array(plain.subarray(HEAD + recLen)),
    };
  }
}

/** Where an association files a token it handed out: its first 16 bytes (unique per token). */
export const tokenKey = (token: Uint8Array): string => Buffer.from(token.subarray(0, 16)).toString('hex');
