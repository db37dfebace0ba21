// BGP error codes (RFC 4271 §4.5, RFC 4486, RFC 6608, RFC 7313) and the typed decode error. Every
// decode failure carries the NOTIFICATION (code, subcode, data) that the session must send, so the
// FSM never has to guess which error a malformed message deserves.

export const ErrorCode = {
  MessageHeader: 1,
  OpenMessage: 2,
  UpdateMessage: 3,
  HoldTimerExpired: 4,
  FsmError: 5,
  Cease: 6,
  RouteRefresh: 7,
} as const;

export const HeaderSubcode = { NotSynchronized: 1, BadLength: 2, BadType: 3 } as const;

export const OpenSubcode = {
  UnsupportedVersion: 1,
  BadPeerAs: 2,
  BadBgpId: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const;

export const UpdateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnown: 2,
  MissingWellKnown: 3,
  AttributeFlags: 4,
  AttributeLength: 5,
  InvalidOrigin: 6,
  InvalidNextHop: 8,
  OptionalAttribute: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;

/** RFC 6608: which state received the unexpected message. */
export const FsmSubcode = { Unspecified: 0, OpenSent: 1, OpenConfirm: 2, Established: 3 } as const;

/** RFC 4486 Cease subcodes. */
export const CeaseSubcode = {
  MaxPrefixes: 1,
  AdminShutdown: 2,
  PeerDeconfigured: 3,
  AdminReset: 4,
  ConnectionRejected: 5,
  OtherConfigChange: 6,
  ConnectionCollision: 7,
  OutOfResources: 8,
  HardReset: 9,
} as const;

/** RFC 7313: malformed ROUTE-REFRESH. */
export const RouteRefreshSubcode = { InvalidLength: 1 } as const;

/** A message could not be decoded; send NOTIFICATION(code, subcode, data) and close. */
export class BgpDecodeError extends Error {
  constructor(
    readonly code: number,
    readonly subcode: number,
    reason: string,
    readonly data: Uint8Array = new Uint8Array(0),
  ) {
    super(`BGP decode error ${code}/${subcode}: ${reason}`);
    this.name = 'BgpDecodeError';
  }
}

/** The caller asked to encode something BGP cannot express (a bug or bad config, never peer input). */
export class BgpEncodeError extends Error {
  constructor(reason: string) {
    super(`BGP encode error: ${reason}`);
    this.name = 'BgpEncodeError';
  }
}

const codeNames: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

export const describeNotification = (code: number, subcode: number): string =>
  `${codeNames[code] ?? `code ${code}`} (subcode ${subcode})`;
