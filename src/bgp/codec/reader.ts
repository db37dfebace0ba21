// Bounds-checked cursor over a message body. Every read past the end throws a BgpDecodeError with the
// error the caller chose for "truncated" in this context (header, OPEN, UPDATE...), so a short buffer
// can never surface as a RangeError.
import { BgpDecodeError } from './errors.js';

export class Reader {
  private pos: number;
  constructor(
    readonly buf: Uint8Array,
    private readonly code: number,
    private readonly subcode: number,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.end - this.pos;
  }

  fail(reason: string, data?: Uint8Array): never {
    throw new BgpDecodeError(this.code, this.subcode, reason, data);
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) this.fail(`truncated ${what}`);
  }

  u8(what = 'field'): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }

  u16(what = 'field'): number {
    this.need(2, what);
    const v = ((this.buf[this.pos] as number) << 8) | (this.buf[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  u32(what = 'field'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (
      (((b[p] as number) << 24) |
        ((b[p + 1] as number) << 16) |
        ((b[p + 2] as number) << 8) |
        (b[p + 3] as number)) >>>
      0
    );
  }

  bytes(n: number, what = 'field'): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A sub-reader over the next n bytes, with its own error code for truncation inside it. */
  sub(n: number, code: number, subcode: number, what = 'field'): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, code, subcode, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}

/** Growable byte writer for encoders. */
export class Writer {
  private chunks: number[] = [];
  u8(v: number): this {
    this.chunks.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    this.chunks.push((v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  u32(v: number): this {
    this.chunks.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.chunks.push((b[i] as number) & 0xff);
    return this;
  }
  get length(): number {
    return this.chunks.length;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}
