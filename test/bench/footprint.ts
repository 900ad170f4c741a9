import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Db } from '@handoff/db';
import { createTestDatabase } from '../support/database.ts';
import { createNoopIntents, createOverHttp, waitForSucceeded, workWindow } from './handoffLoad.ts';
import { cpuSeconds, machineCpu, spawnNode, rssMiB, sampleRss, type NodeProcess } from './processes.ts';
import { progress, round, withRatio, type BenchFigure, type BenchOptions } from './report.ts';
import { sleep } from './stats.ts';

/**
 * Footprint: resident memory (VmRSS) of a coordinator (`handoff coordinator`, its own process) and
 * of executor processes (`apps/executor/main.ts`), idle and at their peak (sampled every 100 ms)
 * during a throughput run of noop intents, created over HTTP at 50 concurrent requests with 2
 * executors. Baseline: a bare `node -e` process.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const EXECUTORS = 2;

/** The median of a few samples a little apart, so one GC does not decide the idle figure. */
async function settledRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssMiB(pid));
    await sleep(200);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** CPU seconds so far of the coordinator, the executors, this process, this database's Postgres backends and the machine. */
async function cpuNow(db: Db, coordinator: number, executors: number[]) {
  const { rows } = await sql<{
    pid: number;
  }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(db);
  const usage = process.cpuUsage();
  return {
    coordinator: cpuSeconds(coordinator),
    executors: executors.map(cpuSeconds),
    bench: (usage.user + usage.system) / 1e6,
    postgres: new Map(rows.map((r) => [r.pid, cpuSeconds(r.pid)] as const).filter(([, c]) => Number.isFinite(c))),
    machine: machineCpu(),
  };
}

export async function footprintBench(opts: BenchOptions): Promise<BenchFigure[]> {
  const n = Number(process.env.BENCH_INTENTS ?? (opts.quick ? 300 : 3000));
  const section = 'footprint';
  const tdb = await createTestDatabase();
  const home = mkdtempSync(join(tmpdir(), 'handoff-bench-footprint-'));
  writeFileSync(join(home, 'policy.json'), '{}');
  const procs: NodeProcess[] = [];
  try {
    const env = { DATABASE_URL: tdb.url, HANDOFF_HOME: home, HANDOFF_LOG_LEVEL: 'info' };
    progress(section, 'starting a bare node process, a coordinator and 2 executors');
    const bare = await spawnNode(['-e', 'setInterval(() => {}, 1 << 30)']);
    procs.push(bare);
    const coordinator = await spawnNode([join(repo, 'apps/cli/src/main.ts'), 'coordinator', '--port', '0'], {
      env,
      ready: /^\s*coordinator\s+http:\/\/\S+$/,
    });
    procs.push(coordinator);
    const url = /(http:\/\/\S+)/.exec(coordinator.readyLine)![1]!;
    const token = readFileSync(join(home, 'operator.token'), 'utf8').trim();
    const executors = await Promise.all(
      Array.from({ length: EXECUTORS }, (_, i) =>
        spawnNode([join(repo, 'apps/executor/main.ts')], {
          env: { ...env, HANDOFF_EXECUTOR_ID: `footprint-${i}` },
          ready: /"executor started"/,
        }),
      ),
    );
    procs.push(...executors);

    progress(section, 'idle for 3 s');
    await sleep(3000);
    const [bareIdle, coordIdle, ...execIdle] = await Promise.all(
      [bare, coordinator, ...executors].map((p) => settledRss(p.pid)),
    );

    progress(section, `under load: ${n} noop intents, 50 concurrent creates, ${EXECUTORS} executors`);
    const sampler = sampleRss([coordinator.pid, ...executors.map((e) => e.pid)], 100);
    const cpu0 = await cpuNow(
      tdb.db,
      coordinator.pid,
      executors.map((e) => e.pid),
    );
    const start = Date.now();
    const http = createOverHttp(url, token);
    await createNoopIntents(http.create, n, 50, 'fp').finally(() => http.close());
    await waitForSucceeded(tdb.db, n);
    const [coordPeak, ...execPeaks] = sampler.stop();
    const cpu1 = await cpuNow(
      tdb.db,
      coordinator.pid,
      executors.map((e) => e.pid),
    );
    const perIntentMs = (a: number, b: number): number => round(((b - a) * 1000) / n, 2);
    const pgCpu = [...cpu1.postgres].reduce((sum, [pid, c]) => sum + (c - (cpu0.postgres.get(pid) ?? 0)), 0);
    const { lastReceiptAt } = await workWindow(tdb.db);
    const rate = n / ((lastReceiptAt.getTime() - start) / 1000);

    const baseline = { name: 'bare `node -e` process', value: round(bareIdle!, 1) };
    const settings = { intents: n, executors: EXECUTORS, sampleEveryMs: 100 };
    const note = 'ratio = handoff / bare node';
    return [
      withRatio({ section, name: 'coordinator RSS, idle', value: round(coordIdle!, 1), unit: 'MiB', baseline, note }),
      withRatio({
        section,
        name: 'executor RSS, idle (largest of 2)',
        value: round(Math.max(...execIdle), 1),
        unit: 'MiB',
        baseline,
      }),
      withRatio({
        section,
        name: 'coordinator RSS, peak under the throughput run',
        value: round(coordPeak!, 1),
        unit: 'MiB',
        baseline,
        settings,
      }),
      withRatio({
        section,
        name: 'executor RSS, peak under the throughput run (largest of 2)',
        value: round(Math.max(...execPeaks), 1),
        unit: 'MiB',
        baseline,
        settings,
      }),
      {
        section,
        name: 'end to end during this run (coordinator in its own process)',
        value: round(rate, 0),
        unit: 'intents/s',
        note: 'the load generator is the bench process, not the coordinator: compare with throughput / end to end',
        settings,
      },
      // where the CPU went during the run: what limits end-to-end throughput on 2 cores
      {
        section,
        name: 'CPU per intent: coordinator process',
        value: perIntentMs(cpu0.coordinator, cpu1.coordinator),
        unit: 'ms',
        settings,
      },
      {
        section,
        name: 'CPU per intent: executor processes (sum of 2)',
        value: perIntentMs(sum(cpu0.executors), sum(cpu1.executors)),
        unit: 'ms',
        settings,
      },
      {
        section,
        name: 'CPU per intent: Postgres backends of this database',
        value: round((pgCpu * 1000) / n, 2),
        unit: 'ms',
        settings,
      },
      {
        section,
        name: 'CPU per intent: load generator (bench process)',
        value: perIntentMs(cpu0.bench, cpu1.bench),
        unit: 'ms',
        settings,
      },
      {
        section,
        name: 'machine CPU busy during the run (all processes, all agents)',
        value: round((100 * (cpu1.machine.busy - cpu0.machine.busy)) / (cpu1.machine.total - cpu0.machine.total), 0),
        unit: '%',
        settings,
      },
    ];
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await tdb.drop();
    rmSync(home, { recursive: true, force: true });
  }
}
