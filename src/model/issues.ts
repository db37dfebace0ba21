// Validation issues: every complaint about input names the object, the field and the offending value,
// so `ferrolb check`, the REST API and Kubernetes status can all say exactly what is wrong.

export interface ConfigIssue {
  /** "Kind/name" of the object, or "document N" when the object has no usable name. */
  readonly object: string;
  /** Dotted path with indexes, e.g. "spec.ports[0].port". Empty for whole-document problems. */
  readonly field: string;
  /** The offending value as given (undefined when missing). */
  readonly value: unknown;
  readonly message: string;
}

export function formatValue(v: unknown): string {
  if (v === undefined) return '(missing)';
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    return String(v);
  }
}

export const formatIssue = (i: ConfigIssue): string =>
  `${i.object}: ${i.field ? `${i.field}: ` : ''}${i.value === undefined && !i.field ? '' : `${formatValue(i.value)}: `}${i.message}`;

/** Thrown (or returned) when input is rejected; carries every issue found, not just the first. */
export class ValidationError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `invalid configuration (${issues.length} error${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  - ${formatIssue(i)}`).join('\n')}`,
    );
    this.name = 'ValidationError';
  }
}

/** Joins a path and a key the way users write it: a.b[0].c */
export const fieldPath = (base: string, key: string | number): string =>
  typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key;

/** Parses Go/Kubernetes-style durations ("90s", "500ms", "1m30s") into milliseconds. */
export function parseDurationMs(s: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 0);
  return Math.round(total);
}
