// TCP probe: a full three-way handshake, then an immediate close. Connected = up.
import { connect } from 'node:net';
import type { ProbeRequest, ProbeResult } from '../types.js';
import { attempt, checkRequest, fromError, hostPort, up } from './common.js';

export function probeTcp(req: ProbeRequest): Promise<ProbeResult> {
  checkRequest(req, true);
  return attempt(req, (a) => {
    const sock = connect({ host: req.address, port: req.port });
    // destroy() (not end()) so a half-open peer cannot keep the socket in FIN_WAIT on our side.
    a.onCleanup(() => sock.destroy());
    sock.once('connect', () => a.finish(up(`connected to ${hostPort(req.address, req.port)}`, a.elapsed())));
    sock.once('error', (e) => a.finish(fromError(e, `tcp ${hostPort(req.address, req.port)}`)));
  });
}
