// Says why configuration is not used: per resource a Warning Event (once per message), a log line, the
// configInvalid metric, and status on our own resources (Valid condition; MetalLB-style address counters
// on pools).
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type CustomObjectsApi,
} from '@kubernetes/client-node';
import { poolUsage } from '../ipam/stats.js';
import { formatIssue } from '../model/issues.js';
import { SUPPORTED_KINDS } from '../model/validate.js';
import type { Caches } from './caches.js';
import type { ControllerMetrics, Log } from './types.js';
import type { Plan } from './core.js';
import { CRD_KINDS, crKey, versionFor } from './crds.js';
import { clampCount, configStatus } from './status.js';
import { writeEvent } from './writer.js';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const COMPONENT = 'ferrolb-controller';

export interface ReporterDeps {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly caches: Caches;
  readonly metrics: ControllerMetrics;
  readonly log: Log;
  readonly identity: string;
}

export function configReporter(deps: ReporterDeps): (p: Plan) => Promise<void> {
  const { core, custom, caches, metrics, log, identity } = deps;
  const reported = new Set<string>();
  /** Invalid configuration: log, metric, and one Warning Event per resource and message. */
  return async function reportConfig(p: Plan): Promise<void> {
    await writeValidConditions(p);
    if (p.configIssues.length === 0) {
      reported.clear();
      return;
    }
    for (const i of p.configIssues) {
      const msg = formatIssue(i);
      const sources = p.configSources.get(i.object) ?? [];
      if (sources.length === 0 && !reported.has(`-|${msg}`)) {
        // About an object that no longer exists (e.g. a pool deleted while in use): log and count.
        reported.add(`-|${msg}`);
        metrics.configInvalid++;
        log.warn({ issue: msg }, 'configuration problem');
      }
      for (const src of sources) {
        const key = `${src}|${msg}`;
        if (reported.has(key)) continue;
        reported.add(key);
        metrics.configInvalid++;
        log.warn({ resource: src, issue: msg }, 'invalid configuration; keeping the last good one');
        const [group, kind, namespace, name] = src.split('/') as [string, string, string, string];
        const version = versionFor(group, kind);
        try {
          await writeEvent(
            core,
            { kind, apiVersion: `${group}/${version}`, namespace: namespace || 'default', name },
            {
              type: 'Warning',
              reason: 'InvalidConfiguration',
              message: `${msg} (the last good configuration stays in use)`,
            },
            COMPONENT,
            identity,
          );
          metrics.events++;
        } catch (e) {
          log.warn({ error: (e as Error).message }, 'event not written');
        }
      }
    }
  };

  /** status.conditions[Valid] on each validated custom resource (the CRDs' "Valid" column). */
  async function writeValidConditions(p: Plan): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    // Counters only from an accepted state (with last good pools, they describe what is in use).
    const usage = new Map(
      p.state && !p.hold ? poolUsage(p.state.pools.values(), p.allocations).map((x) => [x.name, x]) : [],
    );
    for (const r of caches.crs)
      for (const cr of r.items.values()) {
        const kind = cr.kind ?? '';
        if (!SUPPORTED_KINDS.includes(kind)) continue;
        // Status on MetalLB's own objects belongs to MetalLB's controller, which may still be running
        // during a migration (two writers would flap it; its schema would prune our conditions anyway).
        // Problems with them still get Events, logs and the metric.
        if (cr.apiVersion?.startsWith('metallb.io/')) continue;
        const label = `${kind}/${cr.metadata.name ?? ''}`;
        if (!(p.configSources.get(label) ?? []).includes(crKey(cr))) continue;
        const msgs = p.configIssues.filter((i) => i.object === label).map(formatIssue);
        const u = kind === 'IPAddressPool' ? usage.get(cr.metadata.name ?? '') : undefined;
        const counts = u && {
          assignedIPv4: clampCount(u.ipv4.used),
          assignedIPv6: clampCount(u.ipv6.used),
          availableIPv4: clampCount(u.ipv4.free),
          availableIPv6: clampCount(u.ipv6.free),
        };
        const status = configStatus(cr, msgs, counts, now);
        if (!status) continue;
        const [group, version] = (cr.apiVersion ?? '').split('/') as [string, string];
        const plural = CRD_KINDS.find((k) => k.kind === kind)?.plural as string;
        try {
          await custom.patchNamespacedCustomObjectStatus(
            {
              group,
              version,
              plural,
              namespace: cr.metadata.namespace ?? 'default',
              name: cr.metadata.name ?? '',
              body: { status },
            },
            MERGE,
          );
          metrics.apiWrites++;
        } catch (e) {
          log.warn({ resource: crKey(cr), error: (e as Error).message }, 'status not written');
        }
      }
  }
}
