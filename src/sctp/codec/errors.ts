// The one error type every SCTP/IP decode failure surfaces as. `kind` lets callers decide what to do
// (drop silently, count, log) without parsing messages; `offset` points into the buffer handed in.

export type SctpDecodeErrorKind =
  | 'truncated' // a length field points past the end of the buffer
  | 'bad-length' // a length field is smaller than its own header or inconsistent
  | 'bad-checksum' // CRC32c or IPv4 header checksum mismatch
  | 'not-sctp' // IP protocol / next header is not 132
  | 'fragment' // IP fragments cannot be rewritten; reassembly is the kernel's job
  | 'bad-version' // IP version nibble is neither 4 nor 6
  | 'bad-chunk'; // a known chunk whose body violates its fixed layout

export class SctpDecodeError extends Error {
  constructor(
    readonly kind: SctpDecodeErrorKind,
    readonly offset: number,
    detail: string,
  ) {
    super(`${kind} at ${offset}: ${detail}`);
    this.name = 'SctpDecodeError';
  }
}

/** Thrown by encoders when asked to produce something the wire format cannot hold. */
export class SctpEncodeError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'SctpEncodeError';
  }
}

export const u16 = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);
export const u32 = (b: Uint8Array, o: number): number =>
  (((b[o] as number) << 24) |
    ((b[o + 1] as number) << 16) |
    ((b[o + 2] as number) << 8) |
    (b[o + 3] as number)) >>>
  0;
export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
export const pad4 = (n: number): number => (n + 3) & ~3;

export function need(buf: Uint8Array, offset: number, n: number, what: string): void {
  if (offset + n > buf.length)
    throw new SctpDecodeError(
      'truncated',
      offset,
      `${what}: need ${n} bytes, have ${Math.max(0, buf.length - offset)}`,
    );
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
