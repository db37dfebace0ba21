// One prober per health-check type. `none` is not a prober: the scheduler marks such endpoints
// active without probing (see scheduler.ts).
import type { ProbeRequest, ProbeResult, ProbeType, Prober } from '../types.js';
import { probeHttp, probeHttps } from './http.js';
import { probePing } from './ping.js';
import { probeSctp } from './sctp.js';
import { probeTcp } from './tcp.js';
import { probeUdp } from './udp.js';

export { probeTcp } from './tcp.js';
export { probeUdp, DEFAULT_UDP_PAYLOAD } from './udp.js';
export { probeHttp, probeHttps, statusOk } from './http.js';
export { probePing } from './ping.js';
export { probeSctp } from './sctp.js';
export { InvalidProbeRequestError } from './common.js';

export type ProbingType = Exclude<ProbeType, 'none'>;

export const PROBERS: Readonly<Record<ProbingType, Prober>> = {
  tcp: probeTcp,
  udp: probeUdp,
  http: (r: ProbeRequest): Promise<ProbeResult> => probeHttp(r),
  https: probeHttps,
  sctp: (r: ProbeRequest): Promise<ProbeResult> => probeSctp(r),
  ping: (r: ProbeRequest): Promise<ProbeResult> => probePing(r),
};
