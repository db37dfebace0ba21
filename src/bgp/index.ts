// Public surface of ferrolb's BGP subsystem, for the daemon, the REST API and ferroctl.
export { BgpSpeaker, checkPeerSupported, type SpeakerOptions } from './speaker.js';
export type { AdvertisedRoute } from './ribout.js';
export {
  BgpUnsupportedError,
  type BgpStatus,
  type SessionStatus,
  type AdvertisedRouteStatus,
  type PeerConfig,
} from './types.js';
export {
  parseBgpObjects,
  FERROLB_V1,
  type BgpObjects,
  type BgpPeerSpec,
  type BgpAdvertisementSpec,
  type BfdProfileSpec,
  type CommunitySpec,
  type RawBgpObject,
} from '../model/bgp.js';
export {
  planRoutes,
  peerConfigFromSpec,
  type ServiceAnnouncement,
  type ServiceAddress,
  type AddressAttributes,
  type PoolLabels,
  type RoutePlan,
  type PeerDefaults,
} from './plan.js';
export { formatBgpStatus } from './format.js';
export { parseCommunity, formatCommunity } from '../model/communities.js';
