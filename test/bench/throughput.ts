import { startStack, type Stack } from '../support/stack.ts';
import { bareSqlLifecycle } from './baselines/bareSql.ts';
import { graphileWorkerSweep, type GraphileSettings } from './baselines/graphileWorker.ts';
import { pgBossThroughputSweep, type PgBossThroughputSettings } from './baselines/pgBoss.ts';
import { createNoopIntents, createOverHttp, waitForSucceeded, workWindow } from './handoffLoad.ts';
import { progress, round, withRatio, type BenchFigure, type BenchOptions } from './report.ts';

/**
 * Throughput: noop intents to a success receipt with 2 executor processes, (a) end to end with
 * creates over HTTP at 50 concurrent requests while the executors run, (b) drain: the intents
 * exist before the executors start, which isolates the executor side. Baselines on the same
 * server in the same run: bare pg-boss (best of a sweep of batch settings), the lifecycle as bare
 * SQL from one client, and graphile-worker.
 */

const EXECUTORS = 2;
const CREATE_CONCURRENCY = 50;

/** Executor settings: production defaults, unless BENCH_EXECUTOR_BATCH asks for another batch size. */
function executorEnv(): Record<string, string> {
  const env: Record<string, string> = {
    HANDOFF_SWEEP_MS: '2000',
    HANDOFF_HEARTBEAT_MS: '2000',
    HANDOFF_LOG_LEVEL: 'info',
  };
  if (process.env.BENCH_EXECUTOR_BATCH) env.HANDOFF_EXECUTOR_BATCH = process.env.BENCH_EXECUTOR_BATCH;
  return env;
}

async function createAll(stack: Stack, n: number, prefix: string): Promise<void> {
  const http = createOverHttp(stack.coordinator.url, stack.token);
  try {
    await createNoopIntents(http.create, n, CREATE_CONCURRENCY, prefix);
  } finally {
    await http.close();
  }
}

async function handoffEndToEnd(n: number): Promise<number> {
  const stack = await startStack({ policy: {} });
  try {
    await Promise.all(Array.from({ length: EXECUTORS }, (_, i) => stack.spawnExecutor(`tp-e2e-${i}`, executorEnv())));
    const start = Date.now();
    await createAll(stack, n, 'e2e');
    await waitForSucceeded(stack.tdb.db, n);
    const { lastReceiptAt } = await workWindow(stack.tdb.db);
    return n / ((lastReceiptAt.getTime() - start) / 1000);
  } finally {
    await stack.close();
  }
}

/** The hot tables whose autovacuum migration 013 (and housekeeping, for pg-boss) tunes. */
const HOT_TABLES = ['intents', 'attempts', 'rate_buckets', 'executors', 'job_common'];

/** n_dead_tup per hot table, as pg_stat_user_tables says (its counts lag by about a second). */
async function deadTuples(stack: Stack): Promise<Record<string, number>> {
  const { rows } = await stack.tdb.pool.query<{ relname: string; n: string }>(
    `SELECT relname, n_dead_tup::text AS n FROM pg_stat_user_tables WHERE relname = ANY($1) ORDER BY relname`,
    [HOT_TABLES],
  );
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.n)]));
}

async function handoffDrain(n: number): Promise<{
  perSec: number;
  wallPerSec: number;
  dead: {
    before: Record<string, number>;
    atDrain: Record<string, number>;
    after: Record<string, number>;
    waitedS: number;
    vacuumed: boolean;
  };
}> {
  const stack = await startStack({ policy: {} });
  try {
    await createAll(stack, n, 'drain');
    const deadBefore = await deadTuples(stack);
    const spawnedAt = Date.now();
    await Promise.all(Array.from({ length: EXECUTORS }, (_, i) => stack.spawnExecutor(`tp-drain-${i}`, executorEnv())));
    await waitForSucceeded(stack.tdb.db, n);
    const { firstAttemptAt, lastReceiptAt } = await workWindow(stack.tdb.db);
    // the statistics lag about a second; then wait for autovacuum's next visit to intents (naptime 1 min)
    await new Promise((r) => setTimeout(r, 2000));
    const atDrain = await deadTuples(stack);
    const vacuums = async (): Promise<number> =>
      Number(
        (
          await stack.tdb.pool.query<{ n: string }>(
            `SELECT autovacuum_count::text AS n FROM pg_stat_user_tables WHERE relname = 'intents'`,
          )
        ).rows[0]?.n ?? 0,
      );
    const vacuumsBefore = await vacuums();
    const waitStart = Date.now();
    while (Date.now() - waitStart < 90_000 && (await vacuums()) === vacuumsBefore)
      await new Promise((r) => setTimeout(r, 1000));
    return {
      perSec: n / ((lastReceiptAt.getTime() - firstAttemptAt.getTime()) / 1000),
      wallPerSec: n / ((lastReceiptAt.getTime() - spawnedAt) / 1000),
      dead: {
        before: deadBefore,
        atDrain,
        after: await deadTuples(stack),
        waitedS: Math.round((Date.now() - waitStart) / 1000),
        vacuumed: (await vacuums()) > vacuumsBefore,
      },
    };
  } finally {
    await stack.close();
  }
}

function pgBossSettings(quick: boolean): PgBossThroughputSettings[] {
  const all: PgBossThroughputSettings[] = [];
  for (const batchSize of quick ? [100] : [50, 100, 200]) {
    for (const workers of quick ? [2] : [2, 4])
      all.push({ batchSize, workers, burstWhenBatchFull: true, insertBatch: 500 });
  }
  if (!quick) all.push({ batchSize: 100, workers: 2, burstWhenBatchFull: false, insertBatch: 500 });
  return all;
}

function graphileSettings(quick: boolean): GraphileSettings[] {
  return quick
    ? [
        { mode: 'unbatched', concurrency: 10 },
        { mode: 'batched', concurrency: 10, localQueue: 100 },
      ]
    : [
        { mode: 'unbatched', concurrency: 4 },
        { mode: 'unbatched', concurrency: 10 },
        { mode: 'batched', concurrency: 10, localQueue: 100 },
        { mode: 'batched', concurrency: 20, localQueue: 200 },
        { mode: 'batch-jobs', concurrency: 4, itemsPerJob: 100 },
      ];
}

const describe = (s: object): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');

export async function throughputBench(opts: BenchOptions): Promise<BenchFigure[]> {
  // As many intents as the baselines have jobs: at 3,000 a run lasted 1-2 s, and the executors'
  // start-up and JIT warm-up weighed on the figure more than their steady rate.
  const n = Number(process.env.BENCH_INTENTS ?? (opts.quick ? 300 : 10_000));
  const baselineN = Number(process.env.BENCH_JOBS ?? (opts.quick ? 1000 : 10_000));
  const section = 'throughput';

  progress(section, `bare pg-boss, ${baselineN} jobs per setting`);
  const boss = await pgBossThroughputSweep(baselineN, pgBossSettings(opts.quick));
  const bestBoss = boss[0]!;
  progress(section, `bare SQL lifecycle, ${baselineN} intents unbatched and batched`);
  const sqlOne = await bareSqlLifecycle(Math.min(baselineN, opts.quick ? 500 : 5000), 1);
  const sqlBatch = await bareSqlLifecycle(baselineN, 100);
  progress(section, `graphile-worker, ${baselineN} jobs per setting`);
  const graphile = await graphileWorkerSweep(baselineN, graphileSettings(opts.quick));
  const bestOf = (mode: GraphileSettings['mode']) =>
    graphile.filter((g) => g.settings.mode === mode).sort((a, b) => b.perSec - a.perSec)[0];

  progress(section, `handoff end to end, ${n} intents, ${EXECUTORS} executors`);
  const e2e = await handoffEndToEnd(n);
  progress(section, `handoff drain, ${n} intents, ${EXECUTORS} executors`);
  const drain = await handoffDrain(n);

  const bossBaseline = { name: 'bare pg-boss jobs/s, best setting', value: round(bestBoss.jobsPerSec, 0) };
  const bossNote = `pg-boss best: ${describe(bestBoss.settings)}`;
  const figures: BenchFigure[] = [
    withRatio({
      section,
      name: `handoff end to end: HTTP create -> success receipt`,
      value: round(e2e, 0),
      unit: 'intents/s',
      baseline: bossBaseline,
      note: bossNote,
      settings: { intents: n, executors: EXECUTORS, createConcurrency: CREATE_CONCURRENCY },
    }),
    withRatio({
      section,
      name: 'handoff drain: first attempt -> last receipt',
      value: round(drain.perSec, 0),
      unit: 'intents/s',
      baseline: bossBaseline,
      note: `intents created beforehand; from executor spawn (start-up included): ${round(drain.wallPerSec, 0)} intents/s`,
      settings: { intents: n, executors: EXECUTORS },
    }),
  ];
  // dead tuples stay bounded under the drain (migration 013's autovacuum settings)
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((x, y) => x + y, 0);
  const { dead } = drain;
  figures.push({
    section,
    name: 'dead tuples in the hot tables after the drain, once autovacuum visited intents',
    value: sum(dead.after),
    unit: 'rows',
    note: `per table, before -> at the drain's end -> ${dead.waitedS} s later${dead.vacuumed ? ' (intents autovacuumed)' : ' (no autovacuum yet)'}: ${HOT_TABLES.filter(
      (t) => t in dead.after,
    )
      .map((t) => `${t} ${dead.before[t] ?? 0} -> ${dead.atDrain[t] ?? 0} -> ${dead.after[t]}`)
      .join(', ')}; ${n} intents drained`,
    settings: { intents: n },
  });
  const vsDrain = (name: string, value: number, settings?: object): BenchFigure =>
    withRatio({
      section,
      name: 'handoff drain vs ' + name,
      value: round(drain.perSec, 0),
      unit: 'intents/s',
      baseline: { name, value: round(value, 0) },
      note: settings ? describe(settings) : undefined,
    });
  figures.push(vsDrain('bare SQL lifecycle, 1 client, unbatched', sqlOne));
  figures.push(vsDrain('bare SQL lifecycle, 1 client, 100 per statement', sqlBatch));
  for (const mode of ['unbatched', 'batched', 'batch-jobs'] as const) {
    const best = bestOf(mode);
    if (best) figures.push(vsDrain(`graphile-worker ${mode}, best`, best.perSec, best.settings));
  }
  // every setting tried, so the "best" above can be checked
  for (const b of boss) {
    figures.push({
      section,
      name: `bare pg-boss: ${describe(b.settings)}`,
      value: round(b.jobsPerSec, 0),
      unit: 'jobs/s',
      settings: { ...b.settings, jobs: baselineN },
    });
  }
  for (const g of graphile) {
    figures.push({
      section,
      name: `graphile-worker: ${describe(g.settings)}`,
      value: round(g.perSec, 0),
      unit: g.settings.mode === 'batch-jobs' ? 'items/s' : 'jobs/s',
      settings: { ...g.settings, jobs: baselineN },
    });
  }
  return figures;
}
