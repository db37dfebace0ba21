// Kubernetes label selector semantics (matchLabels AND matchExpressions), pure.
export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values: readonly string[];
}

export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

export function selectorMatches(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels)) if (labels[k] !== v) return false;
  for (const req of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, req.key);
    const val = labels[req.key];
    switch (req.operator) {
      case 'In':
        if (!has || !req.values.includes(val as string)) return false;
        break;
      case 'NotIn':
        if (has && req.values.includes(val as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Any selector in the list matches (an empty list matches everything). */
export const anySelectorMatches = (
  sels: readonly LabelSelector[],
  labels: Readonly<Record<string, string>>,
) => sels.length === 0 || sels.some((s) => selectorMatches(s, labels));

export function toSelector(raw: unknown): LabelSelector {
  const r = (raw ?? {}) as {
    matchLabels?: Record<string, string>;
    matchExpressions?: {
      key: string;
      operator: LabelSelector['matchExpressions'][number]['operator'];
      values?: string[];
    }[];
  };
  return {
    matchLabels: { ...(r.matchLabels ?? {}) },
    matchExpressions: (r.matchExpressions ?? []).map((e) => ({
      key: e.key,
      operator: e.operator,
      values: [...(e.values ?? [])],
    })),
  };
}
