// Tables, CSV (RFC 4180), dates and durations shared by the commands.

/** Renders rows as an aligned text table with a header line. Cells are single-line strings. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/**
 * Renders rows as CSV (RFC 4180): fields with a comma, quote or line break are quoted, quotes doubled.
 * Fields that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) get a leading `'`.
 */
export function renderCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** A span of time in the largest sensible unit: `45 s`, `12 min`, `5 h`, `3 days`. */
export function humanSpan(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < MINUTE_MS) return `${Math.round(abs / 1000)} s`;
  if (abs < HOUR_MS) return `${Math.round(abs / MINUTE_MS)} min`;
  if (abs < 2 * DAY_MS) return `${trim(abs / HOUR_MS)} h`;
  const days = Math.floor(abs / DAY_MS);
  return `${days} days`;
}

function trim(value: number): string {
  return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
}

/** A date with its distance from now: `2025-03-01 12:00 UTC (3 days ago)`, or `never`. */
export function relativeDate(date: Date | undefined, now: Date, absent = 'never'): string {
  if (!date) return absent;
  const delta = date.getTime() - now.getTime();
  const when = delta >= 0 ? `in ${humanSpan(delta)}` : `${humanSpan(delta)} ago`;
  return `${shortDate(date)} (${when})`;
}

export function shortDate(date: Date | undefined): string {
  if (!date) return '-';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Milliseconds, for step timings: `12 ms`, `1.4 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
