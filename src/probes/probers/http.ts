// HTTP/HTTPS probe: one GET, healthy when the status is in `expectStatus` (default 200-399).
//  - No keep-alive agent: each probe opens and destroys its own connection, so no pooled socket
//    outlives the attempt and each probe really exercises connection setup on the endpoint.
//  - https does not verify the certificate (rejectUnauthorized: false): endpoints are addressed by IP
//    and typically serve self-signed or cluster-internal certificates. The probe asks "does the server
//    answer correctly", not "is this the server I trust"; no data is sent that needs protecting.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ProbeRequest, ProbeResult } from '../types.js';
import { attempt, checkRequest, down, fromError, hostPort, up } from './common.js';

export const statusOk = (status: number, expect?: readonly number[]): boolean =>
  expect && expect.length > 0 ? expect.includes(status) : status >= 200 && status <= 399;

export function probeHttp(req: ProbeRequest, tls = false): Promise<ProbeResult> {
  checkRequest(req, true);
  const path = req.path ?? '/';
  const scheme = tls ? 'https' : 'http';
  const url = `${scheme}://${hostPort(req.address, req.port)}${path}`;
  return attempt(req, (a) => {
    const opts = {
      host: req.address,
      port: req.port,
      path,
      method: 'GET',
      agent: false as const,
      headers: { 'user-agent': 'ferrolb-probe', connection: 'close' },
    };
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      // The verdict needs only the status line; the body is discarded and the socket destroyed.
      res.resume();
      a.finish(
        statusOk(status, req.expectStatus)
          ? up(`${url} answered ${status}`, a.elapsed())
          : down('bad-status', `${url} answered ${status}`),
      );
    };
    const r = tls
      ? httpsRequest({ ...opts, rejectUnauthorized: false }, onResponse)
      : httpRequest(opts, onResponse);
    a.onCleanup(() => r.destroy());
    r.once('error', (e) => a.finish(fromError(e, url)));
    r.end();
  });
}

export const probeHttps = (req: ProbeRequest): Promise<ProbeResult> => probeHttp(req, true);
