// Writes one Service's annotations, status and Event. JSON merge patches carrying the resourceVersion
// we decided from: only our fields are sent (no round-trip can drop fields the client library does not
// know), and a stale decision gets 409, after which the caller re-reads and decides again.
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import type { ServiceEvent, ServiceUpdate } from './status.js';
import type { KService } from './types.js';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface WriteResult {
  readonly service: KService;
  readonly calls: number;
  /** resourceVersions our writes produced (their watch echoes need no reconcile). */
  readonly versions: string[];
}

export async function writeService(core: CoreV1Api, svc: KService, u: ServiceUpdate): Promise<WriteResult> {
  const name = svc.metadata.name as string;
  const namespace = svc.metadata.namespace ?? 'default';
  let cur = svc;
  let calls = 0;
  const versions: string[] = [];
  // Annotations first: the allocation is durable before anyone is told about it in status.
  if (u.annotations) {
    const before = cur.metadata.annotations ?? {};
    const ann: Record<string, string | null> = { ...u.annotations };
    for (const k of Object.keys(before)) if (!(k in u.annotations)) ann[k] = null;
    const body = { metadata: { resourceVersion: cur.metadata.resourceVersion, annotations: ann } };
    cur = (await core.patchNamespacedService({ name, namespace, body }, MERGE)) as unknown as KService;
    calls++;
    versions.push(cur.metadata.resourceVersion ?? '');
  }
  if (u.status) {
    const body = {
      metadata: { resourceVersion: cur.metadata.resourceVersion },
      status: {
        loadBalancer: { ingress: u.status.loadBalancer?.ingress ?? null },
        conditions: u.status.conditions ?? null,
      },
    };
    cur = (await core.patchNamespacedServiceStatus({ name, namespace, body }, MERGE)) as unknown as KService;
    calls++;
    versions.push(cur.metadata.resourceVersion ?? '');
  }
  return { service: cur, calls, versions };
}

/** A core/v1 Event on an object; best effort (an Event that cannot be written is only logged). */
export async function writeEvent(
  core: CoreV1Api,
  involved: { kind: string; apiVersion: string; namespace: string; name: string; uid?: string },
  e: ServiceEvent,
  component: string,
  instance: string,
): Promise<void> {
  const now = new Date();
  const suffix = `${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  await core.createNamespacedEvent({
    namespace: involved.namespace,
    body: {
      metadata: { name: `${involved.name}.${suffix}`, namespace: involved.namespace },
      involvedObject: { ...involved },
      type: e.type,
      reason: e.reason,
      message: e.message.length > 1024 ? `${e.message.slice(0, 1021)}...` : e.message,
      source: { component },
      reportingComponent: component,
      reportingInstance: instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}
