import type { Intent } from '@handoff/contracts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type Stack } from '../support/stack.ts';
import { pgBossPickup } from './baselines/pgBoss.ts';
import { progress, round, withRatio, type BenchFigure, type BenchOptions } from './report.ts';
import { percentile, sleep } from './stats.ts';

/**
 * Pick-up latency: from the operator's approve call to the webhook connector's HTTP call reaching
 * a receiver, through a real coordinator and a real executor process. Measured at idle with two
 * sweep intervals (250 ms and 10 s; the executor's pg-boss poll is 2 s either way), and under a
 * background stream of noop intents. Baseline: bare pg-boss send -> handler with LISTEN/NOTIFY and
 * a 30 s poll, idle and under the same background rate.
 */

const LOAD_PER_SEC = Number(process.env.BENCH_LOAD_RATE ?? 100);

async function handoffPickups(stack: Stack, sink: RecordingSink, n: number, prefix: string): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const key = `${prefix}-${i}`;
    const created = await stack.api<Intent>('POST', '/v1/intents', {
      channel: 'webhook',
      idempotencyKey: key,
      payload: { url: `${sink.url}/p`, body: {} },
    });
    if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    if (created.body.state !== 'pending_approval')
      throw new Error(`webhook intent not held for approval (state ${created.body.state})`);
    const startWall = Date.now();
    const approved = await stack.api('POST', `/v1/intents/${created.body.id}/approve`, {});
    if (approved.status !== 200) throw new Error(`approve answered ${approved.status}`);
    const req = await waitFor('pick-up', async () => sink.requests.find((r) => r.idempotencyKey === key), 30_000, 1);
    // the receiver shares this process's clock
    latencies.push(Math.max(0, req.receivedAt.getTime() - startWall));
  }
  return latencies;
}

/** Noop intents created at `perSec` through the API until stopped (their executor runs them). */
function backgroundCreates(stack: Stack, perSec: number): { stop(): Promise<number> } {
  let running = true;
  let created = 0;
  const loop = (async () => {
    const tickMs = 50;
    const perTick = Math.max(1, Math.round((perSec * tickMs) / 1000));
    while (running) {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: perTick }, async () => {
          const i = created++;
          await stack.api('POST', '/v1/intents', { channel: 'noop', idempotencyKey: `bg-${i}`, payload: { i } });
        }),
      );
      await sleep(Math.max(0, tickMs - (performance.now() - t0)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return created;
    },
  };
}

async function withStack<T>(sweepMs: number, fn: (stack: Stack) => Promise<T>): Promise<T> {
  const stack = await startStack({ policy: { lease: { ttlSeconds: 30 } } });
  try {
    await stack.spawnExecutor(`pickup-${sweepMs}`, { HANDOFF_SWEEP_MS: String(sweepMs), HANDOFF_HEARTBEAT_MS: '2000' });
    return await fn(stack);
  } finally {
    await stack.close();
  }
}

export async function pickupBench(opts: BenchOptions): Promise<BenchFigure[]> {
  const n = Number(process.env.BENCH_PICKUPS ?? (opts.quick ? 20 : 200));
  const section = 'pickup';
  const sink = await startRecordingSink();
  try {
    progress(section, `bare pg-boss send -> handler, ${n} idle`);
    const bossIdle = await pgBossPickup(n);
    progress(section, `bare pg-boss send -> handler, ${n} under ${LOAD_PER_SEC} jobs/s`);
    const bossLoad = await pgBossPickup(n, LOAD_PER_SEC);

    progress(section, `handoff approve -> connector call, ${n} idle, sweep 250 ms`);
    const { idle, loaded, bgRate } = await withStack(250, async (stack) => {
      await handoffPickups(stack, sink, Math.min(5, n), 'warm');
      const idle = await handoffPickups(stack, sink, n, 'idle');
      progress(section, `handoff approve -> connector call, ${n} under ${LOAD_PER_SEC} noop intents/s`);
      const bg = backgroundCreates(stack, LOAD_PER_SEC);
      const t0 = performance.now();
      await sleep(1000);
      const loaded = await handoffPickups(stack, sink, n, 'load');
      const created = await bg.stop();
      return { idle, loaded, bgRate: created / ((performance.now() - t0) / 1000) };
    });
    progress(section, `handoff approve -> connector call, ${n} idle, sweep 10 s`);
    const slowSweep = await withStack(10_000, async (stack) => {
      await handoffPickups(stack, sink, Math.min(5, n), 'warm10');
      return handoffPickups(stack, sink, n, 'idle10');
    });

    const note =
      'ratio = handoff / pg-boss (lower is better); handoff includes the approve HTTP call and the webhook round trip';
    const pair = (
      what: string,
      handoff: number[],
      boss: number[],
      bossWhat: string,
      settings: BenchFigure['settings'],
    ): BenchFigure[] =>
      [50, 99].map((p) =>
        withRatio({
          section,
          name: `handoff pick-up p${p}, ${what}`,
          value: round(percentile(handoff, p)),
          unit: 'ms',
          baseline: { name: `bare pg-boss send -> handler p${p}, ${bossWhat}`, value: round(percentile(boss, p)) },
          note: p === 50 ? note : undefined,
          settings,
        }),
      );
    return [
      ...pair('idle, executor sweep 250 ms', idle, bossIdle, 'idle', { samples: n, sweepMs: 250, pgBossPollS: 2 }),
      ...pair('idle, executor sweep 10 s', slowSweep, bossIdle, 'idle', {
        samples: n,
        sweepMs: 10_000,
        pgBossPollS: 2,
      }),
      ...pair(`under load, ${LOAD_PER_SEC} noop intents/s`, loaded, bossLoad, `under ${LOAD_PER_SEC} jobs/s`, {
        samples: n,
        loadPerSec: LOAD_PER_SEC,
        loadMeasuredPerSec: round(bgRate, 0),
      }),
    ];
  } finally {
    await sink.close();
  }
}
