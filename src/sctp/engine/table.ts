// The association table: storage plus the indexes packets are looked up by. Keys follow
// draft-ietf-tsvwg-natsupp: ports + verification tag (+ the packet's addresses, checked against the
// association's address sets), never the 5-tuple alone, so two associations on one 5-tuple (a
// restart) and any number of paths per association resolve without ambiguity.
import type { IpAddr } from '../../net/ip.js';
import { type Association, hasIp, ipKey, natEntries } from './association.js';
import { isHalfOpen, type NatEntry, type Side } from './types.js';

/** Which vtag an index entry holds: the one the peer must use, or the sender's own (T bit). */
type TagKind = 'peer' | 'own';

const key = (side: Side, kind: TagKind, srcPort: number, dstPort: number, vtag: number): string =>
  `${side}|${kind}|${srcPort}|${dstPort}|${vtag}`;

const clientKey = (service: string, ip: IpAddr, port: number): string => `${service}|${ipKey(ip)}|${port}`;

export class AssociationTable {
  private readonly byId = new Map<number, Association>();
  private readonly index = new Map<string, Set<number>>();
  /** The index keys each association was filed under (tags change, so they are remembered). */
  private readonly filedAs = new Map<number, string[]>();
  /** service|client address|client port → ids, for INIT retransmits and restarts. */
  private readonly byClient = new Map<string, Set<number>>();
  /** The client keys each association was filed under (its addresses change with ASCONF). */
  private readonly clientFiled = new Map<number, string[]>();
  /** Half-open associations in creation order: the first one is the eviction candidate. */
  private readonly halfOpen = new Set<number>();
  /**
   * Half-open ones whose latest State Cookie is sealed (cookie.ts): their COOKIE-ECHO can rebuild
   * them, so they are evicted first, and an INIT still waiting for its INIT-ACK (which only the
   * table can match) survives a flood far longer.
   */
  private readonly recoverable = new Set<number>();
  /** LB-side ports in use per endpoint (address|port), counted: a restart shares its predecessor's. */
  private readonly ports = new Map<string, Map<number, number>>();

  get size(): number {
    return this.byId.size;
  }
  get halfOpenCount(): number {
    return this.halfOpen.size;
  }
  get(id: number): Association | undefined {
    return this.byId.get(id);
  }
  all(): IterableIterator<Association> {
    return this.byId.values();
  }
  /** The half-open association to evict: the oldest recoverable one, else the oldest. */
  evictionVictim(): Association | undefined {
    for (const id of this.recoverable) return this.byId.get(id);
    for (const id of this.halfOpen) return this.byId.get(id);
    return undefined;
  }

  /** `a` (half-open) now has a sealed latest token, or (false) a plain one again. */
  setRecoverable(a: Association, sealed: boolean): void {
    this.recoverable.delete(a.id);
    if (sealed && this.halfOpen.has(a.id)) this.recoverable.add(a.id);
  }

  private indexKeys(a: Association): string[] {
    const ks: string[] = [];
    const P = a.service.port;
    const E = a.endpoint.port;
    if (a.endpointTag !== 0)
      ks.push(
        key('client', 'peer', a.clientPort, P, a.endpointTag),
        key('endpoint', 'own', E, a.lbPort, a.endpointTag),
      );
    if (a.clientTag !== 0)
      ks.push(
        key('endpoint', 'peer', E, a.lbPort, a.clientTag),
        key('client', 'own', a.clientPort, P, a.clientTag),
      );
    return ks;
  }

  /** Adds or re-indexes (after a tag became known) an association. */
  put(a: Association): void {
    if (this.byId.has(a.id)) this.unindex(a);
    else {
      const ps = this.portsOf(a.endpoint.addresses[0], a.endpoint.port);
      ps.set(a.lbPort, (ps.get(a.lbPort) ?? 0) + 1);
    }
    this.byId.set(a.id, a);
    const cks = a.clientAddrs.map((c) => clientKey(a.service.name, c, a.clientPort));
    this.clientFiled.set(a.id, cks);
    for (const k of cks) {
      let set = this.byClient.get(k);
      if (!set) this.byClient.set(k, (set = new Set()));
      set.add(a.id);
    }
    const ks = this.indexKeys(a);
    this.filedAs.set(a.id, ks);
    for (const k of ks) {
      let s = this.index.get(k);
      if (!s) this.index.set(k, (s = new Set()));
      s.add(a.id);
    }
    if (isHalfOpen(a.state)) this.halfOpen.add(a.id);
    else {
      this.halfOpen.delete(a.id);
      this.recoverable.delete(a.id);
    }
  }

  /** Removes an association; returns the kernel entries that must go with it. */
  remove(a: Association): NatEntry[] {
    if (!this.byId.has(a.id)) return [];
    this.unindex(a);
    this.byId.delete(a.id);
    this.halfOpen.delete(a.id);
    this.recoverable.delete(a.id);
    const ps = this.portsOf(a.endpoint.addresses[0], a.endpoint.port);
    const n = (ps.get(a.lbPort) ?? 1) - 1;
    if (n > 0) ps.set(a.lbPort, n);
    else ps.delete(a.lbPort);
    return natEntries(a);
  }

  private unindex(a: Association): void {
    for (const k of this.filedAs.get(a.id) ?? []) {
      const s = this.index.get(k);
      if (s?.delete(a.id) && s.size === 0) this.index.delete(k);
    }
    this.filedAs.delete(a.id);
    for (const k of this.clientFiled.get(a.id) ?? []) {
      const set = this.byClient.get(k);
      if (set?.delete(a.id) && set.size === 0) this.byClient.delete(k);
    }
    this.clientFiled.delete(a.id);
  }

  /**
   * Finds the association a packet belongs to. `ownTag` is true for ABORT / SHUTDOWN-COMPLETE with
   * the T bit (the vtag is then the sender's own). The newest match wins (a restart replaces).
   */
  lookup(
    src: IpAddr,
    dst: IpAddr,
    srcPort: number,
    dstPort: number,
    vtag: number,
    ownTag: boolean,
  ): { a: Association; side: Side } | undefined {
    const kind: TagKind = ownTag ? 'own' : 'peer';
    for (const side of ['client', 'endpoint'] as const) {
      const ids = this.index.get(key(side, kind, srcPort, dstPort, vtag));
      if (!ids) continue;
      let best: Association | undefined;
      for (const id of ids) {
        const a = this.byId.get(id);
        if (!a || !hasIp(a.vips, dst)) continue;
        if (!hasIp(side === 'client' ? a.clientAddrs : a.endpointAddrs, src)) continue;
        if (!best || a.id > best.id) best = a;
      }
      if (best) return { a: best, side };
    }
    return undefined;
  }

  /** A live association of this client address + port on this service (for INIT retransmits and restarts). */
  findByClient(serviceName: string, src: IpAddr, clientPort: number): Association[] {
    const ids = this.byClient.get(clientKey(serviceName, src, clientPort));
    if (!ids) return [];
    return [...ids]
      .map((id) => this.byId.get(id))
      .filter((a): a is Association => !!a && hasIp(a.clientAddrs, src) && a.clientPort === clientPort);
  }

  /** Associations whose endpoint side matches an INIT the endpoint sends (restart from the endpoint). */
  findByEndpoint(src: IpAddr, dst: IpAddr, srcPort: number, dstPort: number): Association | undefined {
    let best: Association | undefined;
    for (const a of this.byId.values()) {
      if (
        a.endpoint.port !== srcPort ||
        a.lbPort !== dstPort ||
        !hasIp(a.endpointAddrs, src) ||
        !hasIp(a.vips, dst)
      )
        continue;
      if (!best || a.id > best.id) best = a;
    }
    return best;
  }

  private portsOf(addr: IpAddr | undefined, port: number): Map<number, number> {
    const k = `${addr ? ipKey(addr) : '-'}|${port}`;
    let s = this.ports.get(k);
    if (!s) this.ports.set(k, (s = new Map()));
    return s;
  }

  portInUse(endpointAddr: IpAddr | undefined, endpointPort: number, port: number): boolean {
    return this.portsOf(endpointAddr, endpointPort).has(port);
  }

  /** The client's port if free towards this endpoint, else the first free one in the range from a tag-derived start. */
  allocatePort(
    endpointAddr: IpAddr | undefined,
    endpointPort: number,
    clientPort: number,
    seed: number,
    range: readonly [number, number],
  ): number | undefined {
    const used = this.portsOf(endpointAddr, endpointPort);
    if (!used.has(clientPort)) return clientPort;
    const [lo, hi] = range;
    const n = hi - lo + 1;
    for (let i = 0; i < n; i++) {
      const p = lo + ((seed + i) % n);
      if (!used.has(p)) return p;
    }
    return undefined;
  }
}
