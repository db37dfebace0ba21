// SCTP probe from userspace: INIT → INIT-ACK (up) → ABORT, so the endpoint never keeps association
// state and its application never sees a connection. An ABORT in answer to the INIT means "no
// listener on that port" (down). Silence until the timeout is down; the INIT is sent a second time at
// half the timeout so one lost packet does not fail the probe.
import { randomInt } from 'node:crypto';
import type { ProbeRequest, ProbeResult } from '../types.js';
import {
  buildAbort,
  buildInit,
  classifyReply,
  decodePacket,
  SctpDecodeError,
  type InitParams,
} from '../sctp/packet.js';
import { socatOpener, type RawSctpOpener } from '../sctp/transport.js';
import { attempt, checkRequest, down, hostPort, up } from './common.js';

export interface SctpProbeOptions {
  readonly open?: RawSctpOpener;
  /** Random source for tags/ports; injectable for tests. */
  readonly random?: (min: number, max: number) => number;
}

export function probeSctp(req: ProbeRequest, opts: SctpProbeOptions = {}): Promise<ProbeResult> {
  checkRequest(req, true);
  const rnd = opts.random ?? randomInt;
  const open = opts.open ?? socatOpener();
  const where = hostPort(req.address, req.port);
  const init: InitParams = {
    // Ephemeral-range source port: no kernel socket owns it (raw path), and it keeps concurrent
    // probes to one endpoint apart.
    srcPort: rnd(49152, 65536),
    dstPort: req.port,
    initiateTag: rnd(1, 0x1_0000_0000),
    initialTsn: rnd(0, 0x1_0000_0000),
  };
  return attempt(req, (a) => {
    const ch = open(req.address, {
      onUnsupported: (reason) => a.finish(down('unsupported', `sctp probe unsupported here: ${reason}`)),
      onPacket: (buf) => {
        let reply;
        try {
          reply = classifyReply(decodePacket(buf), init);
        } catch (e) {
          if (e instanceof SctpDecodeError) return; // not ours or damaged; keep waiting
          throw e;
        }
        if (reply.kind === 'init-ack') {
          // Sent before finish: the channel's close flushes it before the helper goes away.
          ch.send(buildAbort(init.srcPort, init.dstPort, reply.peerTag));
          a.finish(up(`INIT-ACK from ${where}`, a.elapsed()));
        } else if (reply.kind === 'abort') {
          a.finish(down('refused', `ABORT from ${where} (no SCTP listener)`));
        }
      },
    });
    a.onCleanup(() => ch.close());
    const packet = buildInit(init);
    ch.send(packet);
    const retry = setTimeout(() => ch.send(packet), Math.max(1, req.timeoutMs / 2));
    a.onCleanup(() => clearTimeout(retry));
  });
}
