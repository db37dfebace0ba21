// The SCTP producer/consumer of the Cluster's state sync (issue 12; contract in
// cluster/sync-contract.ts). Local changes go out as one record per association they touch
// (O(change)): created (established), paths changed (ASCONF, failover), ended. Peers' records are
// installed as standby state: into the engine and, through the same writer, into the kernel fast
// path, as adoption after a restart does, so this node forwards the association the moment its
// packets arrive here. Records carry no node-local ids: the key is tags + ports, and each node binds
// it to an id of its own.
import {
  SyncKind,
  type FromProducer,
  type SyncRecord,
  type ToProducer,
} from '../../cluster/sync-contract.js';
import type { SctpNatEngine } from '../engine/engine.js';
import {
  SCTP_REPLICA_VERSION,
  SctpReplicaError,
  decodeReplica,
  encodeReplica,
  isReplicated,
  replicaAssociation,
  replicaKey,
} from '../engine/replica.js';
import type { PathChanges, SctpService } from '../engine/types.js';

/** The producer's end of a MessagePort (node:worker_threads MessagePort fits). */
export interface SyncPort {
  postMessage(m: FromProducer): void;
  on(event: 'message', fn: (m: unknown) => void): unknown;
}

export interface SyncStats {
  /** Records published (local changes and snapshot answers). */
  sent: number;
  /** Records peers sent. */
  received: number;
  /** Peer records installed or removed. */
  applied: number;
  /** Peer records refused (bad encoding, version skew, key mismatch). */
  rejected: number;
  lastError?: string;
  /** Associations held for peers (standby). */
  standby: number;
  /** This node's own pull of its peers' state finished. */
  synced: boolean;
}

export interface SyncOptions {
  readonly engine: SctpNatEngine;
  readonly port: SyncPort;
  /** Writes kernel entry changes of installed replicas (the carrier's fast-path writer). */
  readonly install: (c: PathChanges) => unknown;
  readonly services: () => readonly SctpService[];
  readonly warn?: (msg: string) => void;
  readonly now?: () => number;
}

/** Records per snapshot chunk (a MessagePort message stays small; 256 × ~150 B). */
const SNAPSHOT_CHUNK = 256;

export class SctpSync {
  private readonly keyToId = new Map<string, number>();
  private readonly idToKey = new Map<number, string>();
  readonly stats: SyncStats = { sent: 0, received: 0, applied: 0, rejected: 0, standby: 0, synced: false };

  constructor(private readonly o: SyncOptions) {
    o.port.on('message', (m) => this.onMessage(m));
    o.port.postMessage({ type: 'hello', kind: SyncKind.Sctp, version: SCTP_REPLICA_VERSION });
  }

  /** Local kernel entry changes: publishes one record per association they touched. */
  changed(c: PathChanges): void {
    if (c.add.length + c.remove.length === 0) return;
    const ids = new Set<number>();
    for (const e of c.add) ids.add(e.association);
    for (const e of c.remove) ids.add(e.association);
    const records: SyncRecord[] = [];
    for (const id of ids) {
      const r = this.recordOf(id);
      if (r) records.push(r);
    }
    this.publish(records);
  }

  private recordOf(id: number): SyncRecord | undefined {
    const a = this.o.engine.association(id);
    if (a && isReplicated(a)) {
      const key = replicaKey(a);
      this.bind(key, id);
      return { key, data: encodeReplica(a) };
    }
    const key = this.idToKey.get(id);
    if (key === undefined || a) return undefined; // never published, or not replicated yet
    this.unbind(key);
    return { key, deleted: true };
  }

  private publish(records: SyncRecord[]): void {
    if (records.length === 0) return;
    this.stats.sent += records.length;
    this.o.port.postMessage({ type: 'publish', kind: SyncKind.Sctp, records });
  }

  private bind(key: string, id: number): void {
    const old = this.keyToId.get(key);
    if (old !== undefined && old !== id) this.idToKey.delete(old);
    this.keyToId.set(key, id);
    this.idToKey.set(id, key);
  }

  private unbind(key: string): void {
    const id = this.keyToId.get(key);
    this.keyToId.delete(key);
    if (id !== undefined) this.idToKey.delete(id);
  }

  private onMessage(raw: unknown): void {
    let m: ToProducer;
    try {
      m = checkToProducer(raw);
    } catch (e) {
      this.reject(e);
      return;
    }
    if (m.kind !== SyncKind.Sctp) return;
    switch (m.type) {
      case 'apply':
        this.apply(m.from, m.records);
        return;
      case 'snapshot':
        this.snapshot(m.id);
        return;
      case 'synced':
        this.stats.synced = true;
        return;
      case 'peer-down':
        this.o.engine.releaseReplicas(m.node, (this.o.now ?? Date.now)());
        this.countStandby();
    }
  }

  /** Installs or removes peers' records; a bad one is counted and skipped, the rest still apply. */
  apply(from: string, records: readonly SyncRecord[]): void {
    const now = (this.o.now ?? Date.now)();
    for (const r of records) {
      this.stats.received++;
      const id = this.keyToId.get(r.key);
      if (r.deleted) {
        if (id !== undefined) {
          this.o.install(this.o.engine.removeAssociation(id));
          this.unbind(r.key);
        }
        this.stats.applied++;
        continue;
      }
      try {
        if (!r.data) throw new SctpReplicaError('data', 'missing on a record that is not deleted');
        const rep = decodeReplica(r.data);
        if (rep.key !== r.key)
          throw new SctpReplicaError('key', `${r.key} does not match the record (${rep.key})`);
        const a = replicaAssociation(id ?? this.o.engine.newId(), rep, this.o.services(), now);
        a.replica = from;
        this.o.install(this.o.engine.installReplica(a));
        this.bind(r.key, a.id);
        this.stats.applied++;
      } catch (e) {
        this.reject(e);
      }
    }
    this.countStandby();
  }

  /** A rejoining peer's pull: every replicated association this node holds, in chunks. */
  snapshot(id: number): void {
    const records: SyncRecord[] = [];
    for (const v of this.o.engine.associations((this.o.now ?? Date.now)(), 0)) {
      const r = this.recordOf(v.id);
      if (r && !r.deleted) records.push(r);
    }
    for (let i = 0; i === 0 || i < records.length; i += SNAPSHOT_CHUNK) {
      const chunk = records.slice(i, i + SNAPSHOT_CHUNK);
      this.stats.sent += chunk.length;
      this.o.port.postMessage({
        type: 'snapshot',
        kind: SyncKind.Sctp,
        id,
        records: chunk,
        done: i + SNAPSHOT_CHUNK >= records.length,
      });
    }
  }

  private countStandby(): void {
    let n = 0;
    for (const id of this.keyToId.values()) if (this.o.engine.association(id)?.replica !== undefined) n++;
    this.stats.standby = n;
  }

  private reject(e: unknown): void {
    this.stats.rejected++;
    this.stats.lastError = e instanceof Error ? e.message : String(e);
    this.o.warn?.(`sctp sync: record refused: ${this.stats.lastError}`);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a channel message's shape (it crossed a thread boundary); throws naming the field. */
export function checkToProducer(m: unknown): ToProducer {
  const bad = (field: string, detail: string) => new SctpReplicaError(`message.${field}`, detail);
  if (!isObj(m)) throw bad('', 'expected an object');
  if (m.kind !== SyncKind.Sctp && m.kind !== SyncKind.Conntrack)
    throw bad('kind', `unknown kind ${JSON.stringify(m.kind)}`);
  const kind = m.kind;
  switch (m.type) {
    case 'apply': {
      if (typeof m.from !== 'string') throw bad('from', 'expected a node name');
      if (!Array.isArray(m.records)) throw bad('records', 'expected an array');
      m.records.forEach((r: unknown, i) => {
        if (!isObj(r) || typeof r.key !== 'string') throw bad(`records[${i}].key`, 'expected a string');
        if (r.data !== undefined && !(r.data instanceof Uint8Array))
          throw bad(`records[${i}].data`, 'expected bytes');
      });
      return { type: 'apply', kind, from: m.from, records: m.records as SyncRecord[] };
    }
    case 'snapshot':
      if (typeof m.id !== 'number') throw bad('id', 'expected a number');
      return { type: 'snapshot', kind, id: m.id };
    case 'synced':
      return { type: 'synced', kind, from: typeof m.from === 'string' ? m.from : '' };
    case 'peer-down':
      if (typeof m.node !== 'string') throw bad('node', 'expected a node name');
      return { type: 'peer-down', kind, node: m.node };
    default:
      throw bad('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
}
