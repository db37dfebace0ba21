// Reading a Prometheus text exposition in tests: one sample by name and exact label set, the
// families present (from # TYPE lines, with the series names histograms and summaries add), and
// the metric names a dashboard's PromQL expressions use.

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The value of the sample `name` whose labels are exactly `labels`; undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1], l[2]] as const);
    got.sort(([a], [b]) => (a as string).localeCompare(b as string));
    if (JSON.stringify(got) === JSON.stringify(want)) return Number(m[3]);
  }
  return undefined;
}

/** Every series name the exposition declares (a histogram `x` also gives x_bucket, x_sum, x_count). */
export function familiesOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    out.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) out.add(name + s);
  }
  return out;
}

/** Every `expr` string anywhere in a Grafana dashboard (panels, rows, templating). */
export function dashboardQueries(d: unknown): string[] {
  if (Array.isArray(d)) return d.flatMap(dashboardQueries);
  if (d === null || typeof d !== 'object') return [];
  return Object.entries(d).flatMap(([k, v]) =>
    k === 'expr' && typeof v === 'string' ? [v] : dashboardQueries(v),
  );
}

/** ferrolb metric names used by a PromQL expression (label names and functions are not ferrolb_*). */
export function metricNamesIn(expr: string): string[] {
  return [...expr.replace(/\{[^}]*\}/g, '').matchAll(/\bferrolb_[a-zA-Z0-9_]+/g)].map((m) => m[0]);
}
