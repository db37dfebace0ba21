// Plain-text tables (kubectl style: upper-case headers, columns padded with spaces). Pure. Widths are
// found by a loop, never by spreading the rows into Math.max (which overflows the stack at ~130k rows).
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h) => h.length);
  for (const r of rows)
    for (let i = 0; i < widths.length; i++) {
      const n = (r[i] ?? '').length;
      if (n > widths[i]!) widths[i] = n;
    }
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  const out: string[] = [line(headers)];
  for (const r of rows) out.push(line(r));
  return out.join('\n') + '\n';
}
