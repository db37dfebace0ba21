// Layer 2 ownership, visible per Service the way MetalLB users know it: a ServiceL2Status object
// (ferrolb.io/v1, MetalLB's shape: status.node, serviceName, serviceNamespace, interfaces) per
// Service and announcing node, written by that node's agent and owned by the Service (deleted with
// it), plus a Normal Event `nodeAssigned` on the Service when a node starts announcing it. Off the
// failover path: the takeover happens in the cluster worker; this only reports it, best effort.
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type CustomObjectsApi,
} from '@kubernetes/client-node';
import type { KCustomObject } from './types.js';
import { writeEvent } from './writer.js';

export const L2_STATUS = {
  group: 'ferrolb.io',
  version: 'v1',
  kind: 'ServiceL2Status',
  plural: 'servicel2statuses',
} as const;
export const L2_NODE_LABEL = 'ferrolb.io/node';
export const L2_SERVICE_LABEL = 'ferrolb.io/service-name';
const COMPONENT = 'ferrolb-agent';
const API = { group: L2_STATUS.group, version: L2_STATUS.version, plural: L2_STATUS.plural };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface ServiceRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface L2StatusWant {
  readonly service: ServiceRef;
  readonly addresses: readonly string[];
  readonly interfaces: readonly string[];
}

/** Object name: the Service's and the node's (both DNS names), at most 253 characters. */
export const l2StatusName = (service: string, node: string): string => `${service}-${node}`.slice(0, 253);

/** Pure: what this node must show, per Service ("namespace/name"), from the addresses it owns. */
export function desiredL2Statuses(
  owned: ReadonlyMap<string, readonly string[]>,
  serviceOf: (address: string) => ServiceRef | undefined,
): Map<string, L2StatusWant> {
  const out = new Map<string, { service: ServiceRef; addresses: Set<string>; interfaces: Set<string> }>();
  for (const [address, ifs] of owned) {
    const service = serviceOf(address);
    if (!service) continue;
    const key = `${service.namespace}/${service.name}`;
    const e = out.get(key) ?? { service, addresses: new Set(), interfaces: new Set() };
    e.addresses.add(address);
    for (const i of ifs) e.interfaces.add(i);
    out.set(key, e);
  }
  return new Map(
    [...out].map(([k, e]) => [
      k,
      { service: e.service, addresses: [...e.addresses].sort(), interfaces: [...e.interfaces].sort() },
    ]),
  );
}

export function l2StatusObject(node: string, w: L2StatusWant): KCustomObject {
  return {
    apiVersion: `${L2_STATUS.group}/${L2_STATUS.version}`,
    kind: L2_STATUS.kind,
    metadata: {
      name: l2StatusName(w.service.name, node),
      namespace: w.service.namespace,
      labels: { [L2_NODE_LABEL]: node, [L2_SERVICE_LABEL]: w.service.name },
      ...(w.service.uid
        ? {
            ownerReferences: [
              { apiVersion: 'v1', kind: 'Service', name: w.service.name, uid: w.service.uid },
            ],
          }
        : {}),
    },
    status: {
      node,
      serviceName: w.service.name,
      serviceNamespace: w.service.namespace,
      addresses: [...w.addresses],
      interfaces: w.interfaces.map((name) => ({ name })),
    },
  } as KCustomObject;
}

const same = (a: L2StatusWant, b: L2StatusWant) =>
  a.service.uid === b.service.uid &&
  a.addresses.join() === b.addresses.join() &&
  a.interfaces.join() === b.interfaces.join();

export interface L2StatusLog {
  (msg: string, extra?: Record<string, unknown>): void;
}

/**
 * Keeps this node's ServiceL2Status objects equal to what it announces: create (and an Event) when
 * it starts announcing a Service, update when the addresses or interfaces change, delete when it
 * stops. At its first run it adopts (or deletes) what a previous run of this node left.
 */
export class L2StatusReporter {
  private written: Map<string, L2StatusWant & { name: string }> | undefined;
  private want: ReadonlyMap<string, L2StatusWant> = new Map();
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      readonly core: CoreV1Api;
      readonly custom: CustomObjectsApi;
      readonly node: string;
      readonly log: L2StatusLog;
    },
  ) {}

  update(want: ReadonlyMap<string, L2StatusWant>): Promise<void> {
    this.want = want;
    this.dirty = true;
    this.running ??= this.loop().finally(() => (this.running = undefined));
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        await this.sync();
      } catch (e) {
        this.deps.log('ServiceL2Status not written; retrying', { error: (e as Error).message });
        this.retry = setTimeout(() => void this.update(this.want), 5000);
        this.retry.unref();
        return;
      }
    }
  }

  private async sync(): Promise<void> {
    const { custom, core, node } = this.deps;
    const api = API;
    if (!this.written) {
      const list = (await custom.listClusterCustomObject({
        ...api,
        labelSelector: `${L2_NODE_LABEL}=${node}`,
      })) as { items?: KCustomObject[] };
      const found = new Map<string, L2StatusWant & { name: string }>();
      for (const o of list.items ?? []) {
        const s = (o.status ?? {}) as { addresses?: string[]; interfaces?: { name: string }[] };
        const namespace = o.metadata.namespace ?? 'default';
        const svc = o.metadata.labels?.[L2_SERVICE_LABEL] ?? '';
        const refs = (o.metadata.ownerReferences ?? []) as { uid?: string }[];
        found.set(`${namespace}/${svc}`, {
          name: o.metadata.name ?? '',
          service: { namespace, name: svc, ...(refs[0]?.uid ? { uid: refs[0].uid } : {}) },
          addresses: s.addresses ?? [],
          interfaces: (s.interfaces ?? []).map((i) => i.name),
        });
      }
      this.written = found;
    }
    const written = this.written;
    const want = this.want;
    for (const [key, w] of want) {
      const had = written.get(key);
      if (had && same(had, w)) continue;
      const body = l2StatusObject(node, w);
      const name = body.metadata.name as string;
      if (had)
        await custom.patchNamespacedCustomObject(
          { ...api, namespace: w.service.namespace, name, body },
          MERGE,
        );
      else {
        await custom.createNamespacedCustomObject({ ...api, namespace: w.service.namespace, body });
        await this.dropTakenOver(w);
        await writeEvent(
          core,
          { kind: 'Service', apiVersion: 'v1', ...w.service },
          {
            type: 'Normal',
            reason: 'nodeAssigned',
            message: `announcing ${w.addresses.join(', ')} from node ${node} (layer2${w.interfaces.length ? `, interfaces ${w.interfaces.join(', ')}` : ''})`,
          },
          COMPONENT,
          node,
        ).catch((e: Error) => this.deps.log('Event not written', { error: e.message }));
      }
      written.set(key, { ...w, name });
    }
    for (const [key, had] of [...written]) {
      if (want.has(key)) continue;
      await this.remove(had.service.namespace, had.name);
      written.delete(key);
    }
  }

  /**
   * A node that died cannot delete its objects: the node that took its addresses over deletes the
   * objects of the same Service whose addresses it now announces all of (a dual-stack Service's
   * other family, announced elsewhere, keeps its own).
   */
  private async dropTakenOver(w: L2StatusWant): Promise<void> {
    const list = (await this.deps.custom.listNamespacedCustomObject({
      ...API,
      namespace: w.service.namespace,
      labelSelector: `${L2_SERVICE_LABEL}=${w.service.name}`,
    })) as { items?: KCustomObject[] };
    for (const o of list.items ?? []) {
      if (o.metadata.labels?.[L2_NODE_LABEL] === this.deps.node) continue;
      const theirs = ((o.status ?? {}) as { addresses?: string[] }).addresses ?? [];
      if (theirs.length > 0 && theirs.every((a) => w.addresses.includes(a)))
        await this.remove(w.service.namespace, o.metadata.name ?? '');
    }
  }

  private async remove(namespace: string, name: string): Promise<void> {
    await this.deps.custom
      .deleteNamespacedCustomObject({ ...API, namespace, name })
      .catch((e: { code?: number }) => {
        if (e.code !== 404) throw e;
      });
  }
}
