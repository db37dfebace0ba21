// Replay protection per sender (pure): a sender's messages carry its boot id (strictly larger on
// every start of its membership thread, see bootId()) and a sequence number that grows by one per
// message. A message is accepted once: from an older boot never, within the current boot when its
// sequence is newer than the highest seen or inside the window behind it and not seen yet (UDP may
// reorder). An attacker who records traffic can neither replay it nor resurrect a dead node.

export const REPLAY_WINDOW = 64;

export interface ReplayState {
  readonly bootId: number;
  readonly highest: number;
  /** Bit i set = sequence (highest - i) seen; bit 0 is `highest` itself. */
  readonly seen: bigint;
}

export type ReplayVerdict =
  | { readonly accept: true; readonly next: ReplayState; readonly newBoot: boolean }
  | { readonly accept: false; readonly why: string };

const MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n;

export function checkReplay(st: ReplayState | undefined, bootId: number, seq: number): ReplayVerdict {
  if (!st || bootId > st.bootId)
    return { accept: true, next: { bootId, highest: seq, seen: 1n }, newBoot: st !== undefined };
  if (bootId < st.bootId) return { accept: false, why: `boot ${bootId} is older than ${st.bootId}` };
  if (seq > st.highest) {
    const shift = seq - st.highest;
    const seen = shift >= REPLAY_WINDOW ? 1n : ((st.seen << BigInt(shift)) | 1n) & MASK;
    return { accept: true, next: { bootId, highest: seq, seen }, newBoot: false };
  }
  const back = st.highest - seq;
  if (back >= REPLAY_WINDOW) return { accept: false, why: `sequence ${seq} is behind the window` };
  const bit = 1n << BigInt(back);
  if (st.seen & bit) return { accept: false, why: `sequence ${seq} seen already` };
  return { accept: true, next: { ...st, seen: st.seen | bit }, newBoot: false };
}

/**
 * A boot id larger than every earlier one of this node: the wall clock in ms, or one more than the
 * last recorded id when the clock stepped back (the caller persists it).
 */
export function nextBootId(nowMs: number, lastRecorded: number | undefined): number {
  return Math.max(Math.floor(nowMs), (lastRecorded ?? 0) + 1);
}
