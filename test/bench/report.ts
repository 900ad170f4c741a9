/** One measured figure, printed in the bench table and in `--json`. */
export interface BenchFigure {
  /** e.g. `throughput`, `pickup`, `create-api`, `footprint`, `router` */
  section: string;
  /** e.g. `handoff intents/s (2 executors)` */
  name: string;
  value: number;
  unit: string;
  /** The baseline measured in the same run, when the figure has one. */
  baseline?: { name: string; value: number };
  /** value / baseline.value (or the inverse for latencies, say which in `note`). */
  ratio?: number;
  note?: string;
  /** The settings the figure was measured with (batch sizes, concurrency, sample counts). */
  settings?: Record<string, string | number | boolean>;
}

export interface BenchOptions {
  /** Print JSON only (machine-readable). */
  json: boolean;
  /** Smaller runs, for a smoke check. */
  quick: boolean;
}

/** A section of the bench: runs its own measurements and baselines on the DATABASE_URL server. */
export type BenchSection = (opts: BenchOptions) => Promise<BenchFigure[]>;

/** Progress goes to stderr so that `--json` keeps stdout machine-readable. */
export function progress(section: string, what: string): void {
  process.stderr.write(`bench ${section}: ${what}\n`);
}

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Fills in `ratio` = value / baseline. For rates higher is better; for latencies and memory a ratio
 * above 1 is what handoff costs over the baseline (each such figure says so in its note).
 */
export function withRatio(figure: Omit<BenchFigure, 'ratio'>): BenchFigure {
  const b = figure.baseline;
  return b && b.value > 0 && Number.isFinite(figure.value)
    ? { ...figure, ratio: round(figure.value / b.value, 3) }
    : { ...figure };
}
