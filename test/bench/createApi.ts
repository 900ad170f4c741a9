import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { sql } from 'kysely';
import type { Intent } from '@handoff/contracts';
import { startStack, type Stack } from '../support/stack.ts';
import type { LoadResult, LoadSpec } from './createApiLoad.ts';
import { progress, round, withRatio, type BenchFigure, type BenchOptions } from './report.ts';
import { sleep } from './stats.ts';

/**
 * Create API: `POST /v1/intents` at 50 connections with autocannon (in its own process), against
 * the real coordinator (in this process, no executors running), beside a trivial Fastify route in
 * this process that answers the same JSON: the ratio is our cost over the framework's. Also the
 * database transactions committed per create (pg_stat_database, as a proxy for round trips).
 */

const CONNECTIONS = 50;
const loadScript = fileURLToPath(new URL('./createApiLoad.ts', import.meta.url));

async function load(spec: LoadSpec): Promise<LoadResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [loadScript, JSON.stringify(spec)], {
    timeout: (spec.durationSec + 120) * 1000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult;
}

async function committedTransactions(stack: Stack): Promise<number> {
  // statistics reach pg_stat_database within a second or so of each backend's commits
  await sleep(1500);
  const { rows } = await sql<{
    n: string;
  }>`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`.execute(stack.tdb.db);
  await sql`SELECT pg_stat_clear_snapshot()`.execute(stack.tdb.db);
  return Number(rows[0]!.n);
}

export async function createApiBench(opts: BenchOptions): Promise<BenchFigure[]> {
  const durationSec = Number(process.env.BENCH_CREATE_SECONDS ?? (opts.quick ? 2 : 10));
  const section = 'create-api';

  const stack = await startStack({ policy: {} });
  let handoff: LoadResult;
  let sample: Intent;
  let perCreate: number;
  let intents: number;
  try {
    const first = await stack.api<Intent>('POST', '/v1/intents', {
      channel: 'noop',
      idempotencyKey: 'sample',
      payload: { i: 0 },
    });
    sample = first.body;
    progress(section, `warm-up, 1 s`);
    await load({
      url: `${stack.coordinator.url}/v1/intents`,
      token: stack.token,
      connections: CONNECTIONS,
      durationSec: 1,
      keyPrefix: 'warm',
    });
    const before = await committedTransactions(stack);
    progress(section, `handoff POST /v1/intents, ${CONNECTIONS} connections, ${durationSec} s`);
    handoff = await load({
      url: `${stack.coordinator.url}/v1/intents`,
      token: stack.token,
      connections: CONNECTIONS,
      durationSec,
      keyPrefix: 'load',
    });
    const after = await committedTransactions(stack);
    perCreate = (after - before - 1) / Math.max(1, handoff.ok);
    const counted = await stack.tdb.db
      .selectFrom('intents')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('idempotency_key', 'like', 'load-%')
      .executeTakeFirstOrThrow();
    intents = Number(counted.n);
  } finally {
    await stack.close();
  }

  progress(section, `trivial Fastify route, ${CONNECTIONS} connections, ${durationSec} s`);
  const app = Fastify({ logger: false });
  const body = JSON.stringify(sample);
  app.post('/v1/intents', async (_request, reply) =>
    reply.code(201).header('content-type', 'application/json').send(body),
  );
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  let trivial: LoadResult;
  try {
    await load({
      url: `${address}/v1/intents`,
      token: 'x',
      connections: CONNECTIONS,
      durationSec: 1,
      keyPrefix: 'warm',
    });
    trivial = await load({
      url: `${address}/v1/intents`,
      token: 'x',
      connections: CONNECTIONS,
      durationSec,
      keyPrefix: 'load',
    });
  } finally {
    await app.close();
  }

  const settings = { connections: CONNECTIONS, durationSec, executors: 0 };
  const failures = handoff.non2xx + handoff.errors + handoff.timeouts;
  return [
    withRatio({
      section,
      name: 'POST /v1/intents requests/s (2xx)',
      value: round(handoff.rps, 0),
      unit: 'req/s',
      baseline: { name: 'trivial Fastify route, same JSON answer', value: round(trivial.rps, 0) },
      note: `${handoff.ok} created (${intents} rows), ${failures} non-2xx/errors/timeouts; about ${round(perCreate, 2)} committed transactions per create (pg_stat_database)`,
      settings,
    }),
    withRatio({
      section,
      name: 'POST /v1/intents latency p50',
      value: handoff.p50,
      unit: 'ms',
      baseline: { name: 'trivial Fastify route p50', value: trivial.p50 },
      settings,
    }),
    withRatio({
      section,
      name: 'POST /v1/intents latency p99',
      value: handoff.p99,
      unit: 'ms',
      baseline: { name: 'trivial Fastify route p99', value: trivial.p99 },
      note: 'ratio = handoff / Fastify (lower is better); autocannon keeps whole milliseconds',
      settings,
    }),
  ];
}
