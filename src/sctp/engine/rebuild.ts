// A handshake rebuilt from the LB's own State Cookie (cookie.ts), the SCTP analogue of a SYN cookie:
// when an INIT flood pushed an association out of the bounded half-open table between its INIT-ACK
// and its COOKIE-ECHO, the token the client echoes still carries everything the table held.
import type { Chunk, IpPacket, SctpPacket } from '../codec/index.js';
import { type Association, hasIp } from './association.js';
import { tokenKey } from './cookie.js';
import { makeRoom, type InitContext } from './init.js';
import { decodeReplica, replicaAssociation, SctpReplicaError, type Replica } from './replica.js';
import type { DropReason, PathChanges, SctpService } from './types.js';

/**
 * A COOKIE-ECHO for an association the table no longer holds (an INIT flood pushed it out of the
 * half-open bound): the LB's own token carries the association as it was at INIT-ACK, so it is
 * rebuilt — with the token's id — if the token is this engine's, young enough, and matches the
 * packet, the service and its endpoint still exist, and the LB port is still free.
 */
export function rebuildFromCookie(
  ctx: InitContext,
  services: readonly SctpService[],
  pkt: IpPacket,
  sctp: SctpPacket,
  c: Chunk,
): { a: Association; removed: PathChanges['remove'] } | DropReason {
  const opened = ctx.sealer.open(c.body);
  if (!opened || ctx.table.get(opened.id)) return 'no-association';
  if (ctx.nowMs - opened.createdMs > ctx.limits.halfOpenTimeoutMs) return 'bad-cookie';
  let rep: Replica;
  try {
    rep = decodeReplica(opened.record, { handshake: true });
  } catch (e) {
    if (e instanceof SctpReplicaError) return 'bad-cookie';
    throw e;
  }
  const src = pkt.ip.src;
  if (
    rep.initiator !== 'client' ||
    rep.endpointTag !== sctp.vtag ||
    rep.clientPort !== sctp.srcPort ||
    rep.servicePort !== sctp.dstPort ||
    !hasIp(rep.clientAddrs, src) ||
    !hasIp(rep.vips, pkt.ip.dst)
  )
    return 'bad-cookie';
  const svc = services.find((s) => s.name === rep.serviceName && s.port === rep.servicePort);
  if (!svc) return 'no-service';
  const endpoint = svc.endpoints.find(
    (e) => e.port === rep.endpoint.port && e.addresses.some((x) => hasIp(rep.endpoint.addresses, x)),
  );
  if (!endpoint) return 'no-endpoint';
  // A restart shares its predecessor's LB port (as onClientInit chose); anyone else's is taken.
  const prev = ctx.table
    .findByClient(svc.name, src, rep.clientPort)
    .filter((x) => x.state !== 'init-sent' && x.state !== 'cookie-wait' && x.state !== 'closed')
    .sort((x, y) => y.id - x.id)[0];
  if (ctx.table.portInUse(endpoint.addresses[0], endpoint.port, rep.lbPort) && prev?.lbPort !== rep.lbPort)
    return 'ports-exhausted';
  const removed: PathChanges['remove'][number][] = [];
  if (!makeRoom(ctx, removed)) return 'table-full';
  const a: Association = {
    ...replicaAssociation(opened.id, rep, [svc], ctx.nowMs),
    createdMs: opened.createdMs,
    cookies: new Map([[tokenKey(c.body), { token: c.body.slice(), cookie: opened.cookie }]]),
    ...(prev ? { supersedes: prev.id } : {}),
  };
  ctx.table.put(a);
  ctx.table.setRecoverable(a, true);
  return { a, removed };
}
