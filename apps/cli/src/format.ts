/** Plain-text output: aligned tables, key/value blocks, ages. No colours, no dependencies. */

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
  /** Longer cells are cut with an ellipsis. Default 40; `Infinity` never cuts (ids). */
  max?: number;
  align?: 'left' | 'right';
}

export interface TableOptions {
  indent?: string;
  /** Printed instead of the table when there are no rows. */
  empty?: string;
}

const ELLIPSIS = '…';
const GAP = '  ';

/** One terminal line: control characters (incl. ANSI escapes' ESC) and runs of whitespace become one space. */
export function cell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  return (
    String(value)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, ' ')
      .trim() || '-'
  );
}

export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  if (max <= 1) return ELLIPSIS.slice(0, max);
  return chars.slice(0, max - 1).join('') + ELLIPSIS;
}

function width(text: string): number {
  return Array.from(text).length;
}

export function table<T>(rows: readonly T[], columns: readonly Column<T>[], options: TableOptions = {}): string {
  const indent = options.indent ?? '';
  if (rows.length === 0) return `${indent}${options.empty ?? '(none)'}\n`;
  const cells = rows.map((row) => columns.map((col) => truncate(cell(col.value(row)), col.max ?? 40)));
  const widths = columns.map((col, i) => Math.max(width(col.header), ...cells.map((r) => width(r[i] ?? ''))));
  const render = (values: string[]): string =>
    indent +
    values
      .map((v, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - width(v));
        if (columns[i]?.align === 'right') return pad + v;
        return i === values.length - 1 ? v : v + pad;
      })
      .join(GAP)
      .trimEnd();
  return [render(columns.map((c) => c.header)), ...cells.map(render)].join('\n') + '\n';
}

/** `key   value` lines with the keys aligned; rows whose value is undefined are left out. */
export function keyValues(
  pairs: readonly [string, string | number | boolean | null | undefined][],
  indent = '',
): string {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const keyWidth = Math.max(0, ...shown.map(([k]) => width(k)));
  return shown.map(([k, v]) => `${indent}${k.padEnd(keyWidth)}  ${cell(v)}`).join('\n') + '\n';
}

/** `12s`, `4m`, `3h`, `2d`: one unit, rounded to the nearest, enough to read at a glance. */
export function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

/** `12s ago` for the past, `in 12s` for the future, `-` for nothing. */
export function age(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const delta = now - at;
  if (Math.abs(delta) < 1000) return 'now';
  return delta > 0 ? `${duration(delta)} ago` : `in ${duration(delta)}`;
}

/** `2026-11-22 03:44:10Z (12s ago)`. */
export function timestamp(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const text = new Date(at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return `${text} (${age(iso, now)})`;
}

/** A compact one-line rendering of a payload for tables: the webhook URL when there is one. */
export function payloadSummary(payload: Record<string, unknown> | undefined): string {
  if (!payload) return '-';
  const url = payload.url;
  if (typeof url === 'string') {
    return typeof payload.method === 'string' ? `${payload.method.toUpperCase()} ${url}` : url;
  }
  return JSON.stringify(payload);
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function heading(title: string): string {
  return `${title.toUpperCase()}\n`;
}
