import type pg from 'pg';
import { Logger, makeWorkerUtils, run, runMigrations, type Task } from 'graphile-worker';
import { createPool } from '@handoff/db';
import { createTestDatabase } from '../../support/database.ts';
import { runConcurrently, sleep } from '../stats.ts';

/**
 * graphile-worker 0.18, the Postgres queue users might pick instead, in this process on its own
 * fresh database. Three ways to use it:
 *   unbatched   addJob per job (10 callers at once), each worker fetches and completes one job;
 *   batched     addJobs in bulk (500 per call), a local queue that fetches many jobs per query,
 *               and batched completion (completeJobBatchDelay 0);
 *   batch jobs  its "batch job" mode: one job's payload is an array of items (100 here), so one
 *               fetch and one completion cover 100 items; counted in items/s.
 */

export interface GraphileSettings {
  mode: 'unbatched' | 'batched' | 'batch-jobs';
  concurrency: number;
  /** localQueue.size (batched mode). */
  localQueue?: number;
  /** Items per job payload (batch-jobs mode). */
  itemsPerJob?: number;
}

export interface GraphileThroughput {
  perSec: number;
  settings: GraphileSettings;
}

const quiet = new Logger(() => () => {});

async function pendingJobs(pool: pg.Pool): Promise<number> {
  return Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM graphile_worker.jobs')).rows[0]!.n);
}

async function runOne(connectionString: string, pool: pg.Pool, n: number, s: GraphileSettings): Promise<number> {
  let handled = 0;
  const task: Task = async (payload) => {
    handled += Array.isArray(payload) ? payload.length : 1;
  };
  const batched = s.mode !== 'unbatched';
  // Our own pool (graphile-worker leaves a pool it made without an 'error' listener once it is
  // done, and the database dropped right after would then crash the process), ended by us.
  const workerPool = createPool(connectionString, { max: s.concurrency + 4, applicationName: 'bench-graphile' });
  const runner = await run({
    pgPool: workerPool,
    concurrency: s.concurrency,
    noHandleSignals: true,
    pollInterval: 2000,
    logger: quiet,
    taskList: { bench: task },
    preset: {
      worker: batched
        ? {
            localQueue: s.localQueue ? { size: s.localQueue } : undefined,
            completeJobBatchDelay: 0,
            failJobBatchDelay: 0,
          }
        : {},
    },
  });
  const utils = await makeWorkerUtils({ pgPool: workerPool, logger: quiet });
  try {
    const start = performance.now();
    if (s.mode === 'unbatched') {
      await runConcurrently(n, 10, async (i) => {
        await utils.addJob('bench', { i });
      });
    } else if (s.mode === 'batched') {
      for (let i = 0; i < n; i += 500) {
        await utils.addJobs(
          Array.from({ length: Math.min(500, n - i) }, (_, k) => ({ identifier: 'bench', payload: { i: i + k } })),
        );
      }
    } else {
      const per = s.itemsPerJob ?? 100;
      const jobs = Array.from({ length: Math.ceil(n / per) }, (_, j) => ({
        identifier: 'bench',
        payload: Array.from({ length: Math.min(per, n - j * per) }, (_, k) => ({ i: j * per + k })),
      }));
      for (let i = 0; i < jobs.length; i += 50) await utils.addJobs(jobs.slice(i, i + 50));
    }
    const deadline = Date.now() + 300_000;
    while (handled < n) {
      if (Date.now() > deadline) throw new Error(`graphile-worker handled only ${handled} of ${n} in 300 s`);
      await sleep(2);
    }
    // completed jobs are deleted: the clock stops when the last completion has landed
    while ((await pendingJobs(pool)) > 0) {
      if (Date.now() > deadline) throw new Error('graphile-worker did not complete its jobs in 300 s');
      await sleep(2);
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    await utils.release();
    await runner.stop();
    await workerPool.end();
  }
}

/** Each setting on the same fresh database (the schema migrated once, before any timing). */
export async function graphileWorkerSweep(n: number, settings: GraphileSettings[]): Promise<GraphileThroughput[]> {
  const tdb = await createTestDatabase({ migrate: false });
  try {
    await runMigrations({ pgPool: tdb.pool, logger: quiet });
    const results: GraphileThroughput[] = [];
    for (const s of settings) results.push({ perSec: await runOne(tdb.url, tdb.pool, n, s), settings: s });
    return results;
  } finally {
    await tdb.drop();
  }
}
