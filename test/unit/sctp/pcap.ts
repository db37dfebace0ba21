// Minimal pcap (libpcap classic format) reader for the SCTP fixtures: returns the IP packets in order,
// with the capture's link layer (Ethernet, Linux cooked v1/v2, raw IP) stripped. Test-only.
import { readFileSync } from 'node:fs';

const LINK_ETHERNET = 1;
const LINK_RAW = 101;
const LINK_SLL = 113;
const LINK_SLL2 = 276;

export function readPcapIp(path: string): Uint8Array[] {
  const f = new Uint8Array(readFileSync(path));
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const magic = dv.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && dv.getUint32(0, false) !== 0xa1b2c3d4 && dv.getUint32(0, false) !== 0xa1b23c4d)
    throw new Error(`${path}: not a pcap file`);
  const link = dv.getUint32(20, le);
  const out: Uint8Array[] = [];
  let off = 24;
  while (off + 16 <= f.length) {
    const incl = dv.getUint32(off + 8, le);
    const frame = f.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    const skip =
      link === LINK_ETHERNET
        ? 14
        : link === LINK_SLL
          ? 16
          : link === LINK_SLL2
            ? 20
            : link === LINK_RAW
              ? 0
              : -1;
    if (skip < 0) throw new Error(`${path}: link type ${link} not supported`);
    out.push(frame.subarray(skip));
  }
  return out;
}
