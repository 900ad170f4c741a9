/**
 * `node test/bench/markdown.ts run1.json run2.json ...`: the figures of several `--json` runs as
 * one markdown table per section, each cell "run 1 / run 2 / ...", for docs/performance.md.
 */
import { readFileSync } from 'node:fs';
import type { BenchFigure } from './report.ts';
import { formatNumber } from './table.ts';

interface Run {
  startedAt: string;
  machine: { cpus: number; postgres: string; node: string };
  figures: BenchFigure[];
}

const runs = process.argv.slice(2).map((file) => JSON.parse(readFileSync(file, 'utf8')) as Run);
if (runs.length === 0) {
  process.stderr.write('usage: node test/bench/markdown.ts run1.json [run2.json ...]\n');
  process.exit(2);
}

const key = (f: BenchFigure): string => `${f.section}\u0000${f.name}`;
const order: BenchFigure[] = [];
const seen = new Set<string>();
for (const run of runs) {
  for (const f of run.figures) {
    if (!seen.has(key(f))) {
      seen.add(key(f));
      order.push(f);
    }
  }
}
const cell = (pick: (f: BenchFigure) => number | undefined, k: string): string =>
  runs.map((r) => formatNumber(pick(r.figures.find((f) => key(f) === k) ?? ({} as BenchFigure))) || '–').join(' / ');

for (const [i, r] of runs.entries()) {
  console.log(
    `Run ${i + 1}: ${r.startedAt}, ${r.machine.cpus} cores, node ${r.machine.node}, Postgres ${r.machine.postgres}`,
  );
}
for (const section of [...new Set(order.map((f) => f.section))]) {
  console.log(`\n### ${section}\n`);
  console.log('| figure | value | unit | baseline (same run) | baseline value | ratio |');
  console.log('| --- | ---: | --- | --- | ---: | ---: |');
  for (const f of order.filter((x) => x.section === section)) {
    const k = key(f);
    const ratio = f.baseline ? cell((x) => x.ratio, k) : '';
    console.log(
      `| ${f.name} | ${cell((x) => x.value, k)} | ${f.unit} | ${f.baseline?.name ?? ''} | ${f.baseline ? cell((x) => x.baseline?.value, k) : ''} | ${ratio} |`,
    );
  }
}
