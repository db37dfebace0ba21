// Pure: a Service and the controller's outcome for it → the annotations, status and Event it needs.
// Only differences are returned, so a steady state makes no API calls, and whether to emit an Event
// is decided from the condition already on the Service — a restarted controller does not repeat them.
import { formatIssue } from '../model/issues.js';
import { ALLOCATED, ALLOCATED_FROM_POOL, ALLOCATED_SECONDARY, CONDITION_TYPE } from './annotations.js';
import type { ServiceOutcome } from './core.js';
import type { KCondition, KCustomObject, KIngress, KService } from './types.js';

export interface ServiceEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface ServiceUpdate {
  /** New full annotation map when ours must change (undefined: leave the object alone). */
  readonly annotations?: Record<string, string>;
  /** New status when it must change. */
  readonly status?: NonNullable<KService['status']>;
  readonly event?: ServiceEvent;
}

type Outcome = ServiceOutcome | { readonly phase: 'Released' };

export function serviceUpdate(
  svc: KService,
  outcome: Outcome,
  ipMode: 'VIP' | 'Proxy',
  now: string,
): ServiceUpdate {
  const cur = svc.metadata.annotations ?? {};
  const held = outcome.phase === 'Released' ? undefined : outcome.allocation;
  const want: Record<string, string | undefined> = {
    [ALLOCATED]: held && held.addresses.length > 0 ? held.addresses.join(',') : undefined,
    [ALLOCATED_SECONDARY]:
      held && held.secondaryAddresses.length > 0 ? held.secondaryAddresses.join(',') : undefined,
    [ALLOCATED_FROM_POOL]:
      outcome.phase === 'Allocated'
        ? outcome.pool
        : outcome.phase === 'Released'
          ? undefined
          : cur[ALLOCATED_FROM_POOL],
  };
  // Pending and invalid Services keep what they hold: never rewrite a held address away.
  if (held === undefined && outcome.phase !== 'Released' && outcome.phase !== 'Pending') {
    want[ALLOCATED] = cur[ALLOCATED];
    want[ALLOCATED_SECONDARY] = cur[ALLOCATED_SECONDARY];
  }
  let annotations: Record<string, string> | undefined;
  if (Object.entries(want).some(([k, v]) => cur[k] !== v)) {
    annotations = { ...cur };
    for (const [k, v] of Object.entries(want)) {
      if (v === undefined) delete annotations[k];
      else annotations[k] = v;
    }
  }

  const ingress: KIngress[] = held
    ? [...held.addresses, ...held.secondaryAddresses].map((ip) => ({ ip, ipMode }))
    : outcome.phase === 'Invalid'
      ? (svc.status?.loadBalancer?.ingress ?? []).map((i) => ({ ...i }))
      : [];
  const condition = conditionFor(outcome, svc.metadata.generation);
  const curCond = (svc.status?.conditions ?? []).find((c) => c.type === CONDITION_TYPE);
  const others = (svc.status?.conditions ?? []).filter((c) => c.type !== CONDITION_TYPE);
  const sameCond =
    condition === undefined
      ? curCond === undefined
      : curCond !== undefined &&
        curCond.status === condition.status &&
        curCond.reason === condition.reason &&
        curCond.message === condition.message &&
        curCond.observedGeneration === condition.observedGeneration;
  const curIngress = (svc.status?.loadBalancer?.ingress ?? []).map(
    (i) => `${i.ip ?? ''}|${i.hostname ?? ''}|${i.ipMode ?? ''}`,
  );
  const sameIngress =
    JSON.stringify(curIngress) === JSON.stringify(ingress.map((i) => `${i.ip}||${i.ipMode}`));
  let status: ServiceUpdate['status'];
  if (!sameCond || !sameIngress) {
    const conds = [...others];
    if (condition)
      conds.push({
        ...condition,
        lastTransitionTime:
          curCond && curCond.status === condition.status && curCond.lastTransitionTime
            ? toText(curCond.lastTransitionTime)
            : now,
      });
    status = {
      ...(svc.status ?? {}),
      loadBalancer: ingress.length > 0 ? { ingress } : {},
      conditions: conds,
    };
    if (conds.length === 0) delete status.conditions;
  }

  const changed =
    condition === undefined
      ? curCond !== undefined || cur[ALLOCATED] !== undefined
      : !curCond || curCond.reason !== condition.reason || curCond.message !== condition.message;
  const event = changed ? eventFor(outcome) : undefined;
  return {
    ...(annotations ? { annotations } : {}),
    ...(status ? { status } : {}),
    ...(event ? { event } : {}),
  };
}

const toText = (t: string | Date): string =>
  typeof t === 'string' ? t : t.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function conditionFor(outcome: Outcome, generation: number | undefined): KCondition | undefined {
  const g = generation !== undefined ? { observedGeneration: generation } : {};
  switch (outcome.phase) {
    case 'Allocated':
      return {
        type: CONDITION_TYPE,
        status: 'True',
        reason: 'Allocated',
        message: allocatedMessage(outcome),
        ...g,
      };
    case 'Pending':
      return { type: CONDITION_TYPE, status: 'False', reason: outcome.code, message: outcome.reason, ...g };
    case 'Invalid':
      return {
        type: CONDITION_TYPE,
        status: 'False',
        reason: 'InvalidConfiguration',
        message: outcome.issues.map(formatIssue).join('; '),
        ...g,
      };
    case 'Released':
      return undefined;
  }
}

function allocatedMessage(o: Extract<Outcome, { phase: 'Allocated' }>): string {
  const sec =
    o.allocation.secondaryAddresses.length > 0
      ? `, secondary ${o.allocation.secondaryAddresses.join(', ')}`
      : '';
  // Warnings ride in the condition message, so they are shown once per change, also across restarts.
  const warn = (o.warnings ?? []).map((w) => `; warning: ${formatIssue(w)}`).join('');
  return `assigned ${o.allocation.addresses.join(', ')}${sec}${o.pool ? ` from IPAddressPool/${o.pool}` : ''}${warn}`;
}

function eventFor(outcome: Outcome): ServiceEvent {
  switch (outcome.phase) {
    case 'Allocated':
      return {
        type: outcome.warnings?.length ? 'Warning' : 'Normal',
        reason: 'IPAllocated',
        message: allocatedMessage(outcome),
      };
    case 'Pending':
      return { type: 'Warning', reason: 'AllocationPending', message: `${outcome.code}: ${outcome.reason}` };
    case 'Invalid':
      return {
        type: 'Warning',
        reason: 'InvalidConfiguration',
        message: outcome.issues.map(formatIssue).join('; '),
      };
    case 'Released':
      return {
        type: 'Normal',
        reason: 'IPReleased',
        message: 'the Service is no longer a ferrolb LoadBalancer; its addresses were released',
      };
  }
}

/** The full condition list a custom resource should carry, or undefined when it already does. */
export function validCondition(
  cr: KCustomObject,
  issues: readonly string[],
  now: string,
): KCondition[] | undefined {
  const conds = ((cr.status as { conditions?: KCondition[] } | undefined)?.conditions ?? []).filter(
    (c) => c.type,
  );
  const cur = conds.find((c) => c.type === 'Valid');
  const want: KCondition = {
    type: 'Valid',
    status: issues.length === 0 ? 'True' : 'False',
    reason: issues.length === 0 ? 'Valid' : 'InvalidConfiguration',
    message:
      issues.length === 0 ? 'in use' : `${issues.join('; ')} (the last good configuration stays in use)`,
    ...(cr.metadata.generation !== undefined ? { observedGeneration: cr.metadata.generation } : {}),
  };
  if (
    cur &&
    cur.status === want.status &&
    cur.message === want.message &&
    cur.observedGeneration === want.observedGeneration
  )
    return undefined;
  const lastTransitionTime =
    cur && cur.status === want.status && cur.lastTransitionTime ? toText(cur.lastTransitionTime) : now;
  return [...conds.filter((c) => c.type !== 'Valid'), { ...want, lastTransitionTime }];
}

export interface PoolCounts {
  readonly assignedIPv4: number;
  readonly assignedIPv6: number;
  readonly availableIPv4: number;
  readonly availableIPv6: number;
}

/** A configuration resource's status patch (Valid condition, and MetalLB's counters for pools), or
 * undefined when it already says that. Counters are clamped to what a JSON number holds exactly. */
export function configStatus(
  cr: KCustomObject,
  issues: readonly string[],
  counts: PoolCounts | undefined,
  now: string,
): Record<string, unknown> | undefined {
  const conds = validCondition(cr, issues, now);
  const cur = (cr.status ?? {}) as Record<string, unknown>;
  const countsChanged = counts !== undefined && Object.entries(counts).some(([k, v]) => cur[k] !== v);
  if (!conds && !countsChanged) return undefined;
  return { ...(conds ? { conditions: conds } : {}), ...(countsChanged ? counts : {}) };
}

export const clampCount = (n: bigint): number =>
  n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
