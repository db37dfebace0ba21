// UDP probe: a connected datagram socket sends one payload.
//  - any reply                         → up
//  - ICMP port/host unreachable        → down (Linux reports it on a *connected* UDP socket as
//                                        ECONNREFUSED / EHOSTUNREACH on the next receive)
//  - silence until the timeout         → `udpSilence` (default 'down'; docs/probes.md explains why)
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { ProbeRequest, ProbeResult } from '../types.js';
import { attempt, checkRequest, down, fromError, hostPort, up } from './common.js';

export const DEFAULT_UDP_PAYLOAD = 'ferrolb-probe\n';

export function probeUdp(req: ProbeRequest): Promise<ProbeResult> {
  checkRequest(req, true);
  const where = hostPort(req.address, req.port);
  const silence = req.udpSilence ?? 'down';
  return attempt(
    req,
    (a) => {
      const sock = createSocket(isIP(req.address) === 6 ? 'udp6' : 'udp4');
      a.onCleanup(() => sock.close());
      sock.once('error', (e) => a.finish(fromError(e, `udp ${where}`)));
      sock.once('message', (msg) =>
        a.finish(up(`udp reply of ${msg.length} bytes from ${where}`, a.elapsed())),
      );
      sock.connect(req.port, req.address, () => {
        sock.send(Buffer.from(req.udpPayload ?? DEFAULT_UDP_PAYLOAD), (e) => {
          if (e) a.finish(fromError(e, `udp send to ${where}`));
        });
      });
    },
    (a) =>
      silence === 'up'
        ? up(
            `no reply and no ICMP error from ${where} within ${req.timeoutMs}ms (silence counts as up)`,
            a.elapsed(),
          )
        : down('timeout', `no reply from ${where} within ${req.timeoutMs}ms`),
  );
}
