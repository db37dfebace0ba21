// BFD control packets (RFC 5880 §4.1), pure. Authentication is not implemented: packets with the A
// bit are rejected, as RFC 5880 §6.8.6 requires for a session without authentication.

export const BfdState = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type BfdStateName = 'AdminDown' | 'Down' | 'Init' | 'Up';
export const stateName = (s: number): BfdStateName =>
  (['AdminDown', 'Down', 'Init', 'Up'] as const)[s & 3] as BfdStateName;

export const BfdDiag = {
  None: 0,
  ControlDetectionTimeExpired: 1,
  EchoFailed: 2,
  NeighborSignaledDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  AdminDown: 7,
} as const;

export interface BfdPacket {
  readonly version: number;
  readonly diag: number;
  readonly state: number;
  readonly poll: boolean;
  readonly final: boolean;
  readonly cpi: boolean;
  readonly auth: boolean;
  readonly demand: boolean;
  readonly multipoint: boolean;
  readonly detectMult: number;
  readonly myDiscr: number;
  readonly yourDiscr: number;
  /** Microseconds, as on the wire. */
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
  readonly requiredMinEchoRxUs: number;
}

export class BfdDecodeError extends Error {
  constructor(reason: string) {
    super(`BFD packet discarded: ${reason}`);
    this.name = 'BfdDecodeError';
  }
}

export const BFD_LEN = 24;

export function encodeBfd(p: Omit<BfdPacket, 'version'> & { version?: number }): Uint8Array {
  const b = Buffer.alloc(BFD_LEN);
  b[0] = (((p.version ?? 1) & 7) << 5) | (p.diag & 0x1f);
  b[1] =
    ((p.state & 3) << 6) |
    (p.poll ? 0x20 : 0) |
    (p.final ? 0x10 : 0) |
    (p.cpi ? 0x08 : 0) |
    (p.auth ? 0x04 : 0) |
    (p.demand ? 0x02 : 0) |
    (p.multipoint ? 0x01 : 0);
  b[2] = p.detectMult;
  b[3] = BFD_LEN;
  b.writeUInt32BE(p.myDiscr >>> 0, 4);
  b.writeUInt32BE(p.yourDiscr >>> 0, 8);
  b.writeUInt32BE(p.desiredMinTxUs >>> 0, 12);
  b.writeUInt32BE(p.requiredMinRxUs >>> 0, 16);
  b.writeUInt32BE(p.requiredMinEchoRxUs >>> 0, 20);
  return new Uint8Array(b);
}

/** Decodes and applies the RFC 5880 §6.8.6 reception checks that need no session state. */
export function decodeBfd(buf: Uint8Array): BfdPacket {
  if (buf.length < BFD_LEN) throw new BfdDecodeError(`short packet (${buf.length} bytes)`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const version = (b[0] as number) >> 5;
  const len = b[3] as number;
  const flags = b[1] as number;
  const p: BfdPacket = {
    version,
    diag: (b[0] as number) & 0x1f,
    state: flags >> 6,
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    cpi: (flags & 0x08) !== 0,
    auth: (flags & 0x04) !== 0,
    demand: (flags & 0x02) !== 0,
    multipoint: (flags & 0x01) !== 0,
    detectMult: b[2] as number,
    myDiscr: b.readUInt32BE(4),
    yourDiscr: b.readUInt32BE(8),
    desiredMinTxUs: b.readUInt32BE(12),
    requiredMinRxUs: b.readUInt32BE(16),
    requiredMinEchoRxUs: b.readUInt32BE(20),
  };
  if (version !== 1) throw new BfdDecodeError(`version ${version}`);
  if (len < BFD_LEN || len > buf.length) throw new BfdDecodeError(`length field ${len}`);
  if (p.auth) throw new BfdDecodeError('authentication not configured');
  if (p.detectMult === 0) throw new BfdDecodeError('detect multiplier 0');
  if (p.multipoint) throw new BfdDecodeError('multipoint bit set');
  if (p.myDiscr === 0) throw new BfdDecodeError('my discriminator 0');
  if (p.yourDiscr === 0 && p.state !== BfdState.Down && p.state !== BfdState.AdminDown)
    throw new BfdDecodeError('your discriminator 0 outside Down/AdminDown');
  return p;
}
