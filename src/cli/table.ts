// Plain-text tables (kubectl style: upper-case headers, columns padded with spaces). Pure. Widths are
// found by a loop, never by spreading the rows into Math.max (which overflows the stack at ~130k
// rows), and lines are built by concatenation: `-o wide` at 10k services is 80k rows × 14 cells.
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h) => h.length);
  for (const r of rows)
    for (let i = 0; i < widths.length; i++) {
      const n = (r[i] ?? '').length;
      if (n > widths[i]!) widths[i] = n;
    }
  const line = (cells: readonly string[]): string => {
    let s = '';
    const last = cells.length - 1;
    for (let i = 0; i < cells.length; i++) {
      const c = cells[i]!;
      if (i === last) s += c;
      else s += c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - c.length)) + '   ';
    }
    return s.trimEnd();
  };
  let out = line(headers) + '\n';
  for (const r of rows) out += line(r) + '\n';
  return out;
}
