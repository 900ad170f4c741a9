import type { BenchFigure } from './report.ts';

/** 12,345 for large numbers, 3 significant digits for small ones. */
export function formatNumber(x: number | undefined): string {
  if (x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return String(Number(x.toPrecision(3)));
}

/** One readable table: figure, value, unit, baseline, baseline value, ratio; then the notes. */
export function renderTable(figures: BenchFigure[]): string {
  const header = ['section', 'figure', 'value', 'unit', 'baseline (same run)', 'baseline value', 'ratio'];
  const rows = figures.map((f) => [
    f.section,
    f.name,
    formatNumber(f.value),
    f.unit,
    f.baseline?.name ?? '',
    formatNumber(f.baseline?.value),
    f.ratio === undefined ? '' : String(f.ratio),
  ]);
  const numeric = new Set([2, 5, 6]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let section = '';
  for (const [i, r] of rows.entries()) {
    if (figures[i]!.section !== section && section !== '') out.push('');
    section = figures[i]!.section;
    out.push(line(r));
  }
  const notes = figures.filter((f) => f.note).map((f) => `  ${f.section} / ${f.name}: ${f.note}`);
  if (notes.length > 0) out.push('', 'notes:', ...notes);
  return out.join('\n');
}
