import type pg from 'pg';
import { PgBoss } from 'pg-boss';
import { createTestDatabase } from '../../support/database.ts';
import { sleep } from '../stats.ts';

/**
 * Bare pg-boss on its own fresh database of the same server: the queue handoff is built on, with
 * no intent logic. LISTEN/NOTIFY on (`useListenNotify`, `notify: true` queues), as handoff uses it.
 */

async function withBoss<T>(fn: (boss: PgBoss, pool: pg.Pool) => Promise<T>): Promise<T> {
  const tdb = await createTestDatabase({ migrate: false });
  const boss = new PgBoss({
    connectionString: tdb.url,
    useListenNotify: true,
    schedule: false,
    supervise: false,
    max: 12,
  });
  boss.on('error', () => {});
  await boss.start();
  try {
    return await fn(boss, tdb.pool);
  } finally {
    await boss.stop({ graceful: false, close: true }).catch(() => {});
    await tdb.drop();
  }
}

export interface PgBossThroughputSettings {
  batchSize: number;
  workers: number;
  burstWhenBatchFull: boolean;
  /** Jobs per `insert` call. */
  insertBatch: number;
}

export interface PgBossThroughput {
  jobsPerSec: number;
  settings: PgBossThroughputSettings;
}

/**
 * n jobs through one queue: inserted in batches while the workers run (so insert cost counts, as
 * creates count for handoff), fetched in batches, completed when the handler returns. Timed from
 * the first insert to the last batch's completion.
 */
async function runThroughput(
  boss: PgBoss,
  pool: pg.Pool,
  queue: string,
  n: number,
  s: PgBossThroughputSettings,
): Promise<number> {
  await boss.createQueue(queue, { notify: true });
  let handled = 0;
  const workerIds: string[] = [];
  for (let w = 0; w < s.workers; w++) {
    workerIds.push(
      await boss.work(
        queue,
        {
          batchSize: s.batchSize,
          burstWhenBatchFull: s.burstWhenBatchFull,
          pollingIntervalSeconds: 0.5,
          notifyPollingIntervalSeconds: 0.5,
        },
        async (jobs) => {
          handled += jobs.length;
        },
      ),
    );
  }
  const start = performance.now();
  for (let i = 0; i < n; i += s.insertBatch) {
    await boss.insert(
      queue,
      Array.from({ length: Math.min(s.insertBatch, n - i) }, (_, k) => ({ data: { i: i + k } })),
    );
  }
  const deadline = Date.now() + 300_000;
  while (handled < n) {
    if (Date.now() > deadline) throw new Error(`pg-boss handled only ${handled} of ${n} jobs in 300 s`);
    await sleep(2);
  }
  // pg-boss completes a batch after its handler returns: the clock stops at the last completion
  while (
    Number(
      (await pool.query(`SELECT count(*) AS n FROM pgboss.job WHERE name = $1 AND state <> 'completed'`, [queue]))
        .rows[0].n,
    ) > 0
  ) {
    if (Date.now() > deadline) throw new Error('pg-boss did not complete its jobs in 300 s');
    await sleep(2);
  }
  const secs = (performance.now() - start) / 1000;
  for (const id of workerIds) await boss.offWork(queue, { id });
  return n / secs;
}

/** Tries each setting on the same database and returns every result, best first. */
export async function pgBossThroughputSweep(
  n: number,
  settings: PgBossThroughputSettings[],
): Promise<PgBossThroughput[]> {
  return withBoss(async (boss, pool) => {
    const results: PgBossThroughput[] = [];
    for (const [i, s] of settings.entries()) {
      results.push({ jobsPerSec: await runThroughput(boss, pool, `tp${i}`, n, s), settings: s });
    }
    return results.sort((a, b) => b.jobsPerSec - a.jobsPerSec);
  });
}

/**
 * Send -> handler latency (ms) for n jobs, one at a time, woken by NOTIFY with a 30 s poll; with
 * `loadPerSec`, a background stream of jobs on another queue (and its own worker) runs meanwhile.
 */
export async function pgBossPickup(n: number, loadPerSec = 0): Promise<number[]> {
  return withBoss(async (boss) => {
    await boss.createQueue('pickup', { notify: true });
    const sent = new Map<number, number>();
    const latencies: number[] = [];
    let arrived: (() => void) | null = null;
    await boss.work('pickup', { pollingIntervalSeconds: 30, notifyPollingIntervalSeconds: 30 }, async (jobs) => {
      const now = performance.now();
      for (const j of jobs) latencies.push(now - sent.get((j.data as { k: number }).k)!);
      arrived?.();
    });
    const background = loadPerSec > 0 ? await startBackgroundJobs(boss, loadPerSec) : null;
    try {
      for (let i = 0; i < n; i++) {
        const done = new Promise<void>((resolve) => (arrived = resolve));
        sent.set(i, performance.now());
        await boss.send('pickup', { k: i });
        await done;
      }
    } finally {
      await background?.stop();
    }
    return latencies;
  });
}

async function startBackgroundJobs(boss: PgBoss, perSec: number): Promise<{ stop(): Promise<void> }> {
  await boss.createQueue('background', { notify: true });
  await boss.work(
    'background',
    { batchSize: 20, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
    async () => {},
  );
  let running = true;
  const loop = (async () => {
    const tickMs = 50;
    const perTick = Math.max(1, Math.round((perSec * tickMs) / 1000));
    let i = 0;
    while (running) {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: perTick }, () => boss.send('background', { i: i++ })));
      await sleep(Math.max(0, tickMs - (performance.now() - t0)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
