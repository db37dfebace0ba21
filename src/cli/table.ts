// Plain-text tables (kubectl style: upper-case headers, columns padded with spaces). Pure. Widths are
// found by a loop, never by spreading the rows into Math.max (which overflows the stack at ~130k
// rows), and lines are built by concatenation: `-o wide` at 10k services is 80k rows × 14 cells.
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return new TableStream(headers).write(rows);
}

/**
 * A table printed a page at a time (a paged listing): the header and the first page are aligned as
 * renderTable() aligns them; a later page's wider cell widens its column from then on (lines already
 * printed stay as they are), so nothing waits for the last page.
 */
export class TableStream {
  private readonly widths: number[];
  private started = false;
  constructor(private readonly headers: readonly string[]) {
    this.widths = headers.map((h) => h.length);
  }
  /** Text of these rows (preceded by the header on the first call). */
  write(rows: readonly (readonly string[])[]): string {
    widen(this.widths, rows);
    let out = '';
    if (!this.started) out = renderLine(this.headers, this.widths) + '\n';
    this.started = true;
    for (const r of rows) out += renderLine(r, this.widths) + '\n';
    return out;
  }
}

function widen(widths: number[], rows: readonly (readonly string[])[]): void {
  for (const r of rows)
    for (let i = 0; i < widths.length; i++) {
      const n = (r[i] ?? '').length;
      if (n > widths[i]!) widths[i] = n;
    }
}

/** Padding plus the 3-space gutter, cut from one string (a slice shares it): no repeat() per cell. */
let spaces = ' '.repeat(256);
const pad = (n: number): string => {
  if (n > spaces.length - 3) spaces = ' '.repeat(2 * n + 3);
  return spaces.slice(0, n + 3);
};

function renderLine(cells: readonly string[], widths: readonly number[]): string {
  let s = '';
  const last = cells.length - 1;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]!;
    if (i === last) s += c;
    else s += c + pad(Math.max(0, (widths[i] ?? 0) - c.length));
  }
  return s.trimEnd();
}
