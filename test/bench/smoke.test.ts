import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * `npm run bench -- --quick --json --only=...` runs and prints the JSON the docs promise: every
 * figure a number with a unit, the handoff figures beside a baseline from the same run, no failed
 * section. Timings are never asserted here: the figures belong in docs/performance.md.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));

interface Report {
  machine: { cpus: number; postgres: string };
  sections: string[];
  figures: {
    section: string;
    name: string;
    value: number;
    unit: string;
    baseline?: { name: string; value: number };
    ratio?: number;
  }[];
  errors: { section: string; message: string }[];
}

test('the quick bench prints valid JSON with every figure beside its baseline', { timeout: 180_000 }, async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['test/bench/run.ts', '--quick', '--json', '--only=throughput,create-api'],
    {
      cwd: repo,
      // the smallest sizes that still exercise every baseline
      env: { ...process.env, BENCH_INTENTS: '100', BENCH_JOBS: '300', BENCH_CREATE_SECONDS: '1' },
      timeout: 170_000,
      maxBuffer: 10 * 1024 * 1024,
    },
  );
  const report = JSON.parse(stdout) as Report;
  assert.deepEqual(report.errors, []);
  assert.deepEqual(report.sections, ['throughput', 'create-api']);
  assert.equal(typeof report.machine.cpus, 'number');
  assert.ok(report.figures.length > 0);
  for (const f of report.figures) {
    assert.equal(typeof f.value, 'number', `${f.name}: value`);
    assert.ok(Number.isFinite(f.value), `${f.name}: value ${f.value}`);
    assert.ok(f.unit.length > 0, `${f.name}: unit`);
    if (f.baseline) {
      assert.ok(Number.isFinite(f.baseline.value), `${f.name}: baseline value`);
      // a baseline of 0 (a latency under autocannon's whole millisecond, on a quiet machine) has no ratio
      if (f.baseline.value > 0) assert.equal(typeof f.ratio, 'number', `${f.name}: ratio`);
      else assert.equal(f.ratio, undefined, `${f.name}: no ratio to a baseline of 0`);
    }
  }
  const handoff = report.figures.filter((f) => f.name.startsWith('handoff') || f.name.startsWith('POST /v1/intents'));
  assert.ok(handoff.length >= 3, 'handoff figures present');
  for (const f of handoff) assert.ok(f.baseline, `${f.name} has a baseline`);
  const baselines = new Set(report.figures.map((f) => f.baseline?.name ?? ''));
  for (const expected of [/pg-boss/, /bare SQL/, /graphile-worker/, /Fastify/]) {
    assert.ok(
      [...baselines].some((b) => expected.test(b)),
      `a ${expected.source} baseline`,
    );
  }
});
