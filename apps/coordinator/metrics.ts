import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { IntentState } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { HEARTBEAT_STALE_SECONDS, executorAlive } from '@handoff/intents';
import type { Access } from './types.ts';

export interface CoordinatorMetrics {
  registry: Registry;
}

/**
 * A registry of our own (never prom-client's global one), so two coordinators in one process (tests)
 * do not collide. The intent, executor and gate gauges are read from Postgres at scrape time: they
 * describe the whole system, not this process, and stay right with several coordinators.
 */
export function createMetrics(db: Db, onScrapeError: (err: unknown) => void): CoordinatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'handoff_intents',
    help: 'Intents by state and channel (every state of a channel that has intents is reported, zeros included)',
    labelNames: ['state', 'channel'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const rows = await db
          .selectFrom('intents')
          .select(['state', 'channel', sql<string>`count(*)`.as('count')])
          .groupBy(['state', 'channel'])
          .execute();
        const channels = new Set(rows.map((r) => r.channel));
        for (const channel of channels) for (const state of IntentState.options) this.set({ state, channel }, 0);
        for (const row of rows) this.set({ state: row.state, channel: row.channel }, Number(row.count));
      } catch (err) {
        onScrapeError(err);
      }
    },
  });

  new Gauge({
    name: 'handoff_executors_alive',
    help: `Executors whose heartbeat is younger than ${HEARTBEAT_STALE_SECONDS} s`,
    registers: [registry],
    async collect() {
      try {
        const row = await db
          .selectFrom('executors')
          .select(sql<string>`count(*)`.as('count'))
          .where(executorAlive())
          .executeTakeFirstOrThrow();
        this.set(Number(row.count));
      } catch (err) {
        onScrapeError(err);
      }
    },
  });

  new Gauge({
    name: 'handoff_gates_closed',
    help: 'Gates (kill switches) currently closed',
    registers: [registry],
    async collect() {
      try {
        const row = await db
          .selectFrom('gates')
          .select(sql<string>`count(*)`.as('count'))
          .where('enabled', '=', false)
          .executeTakeFirstOrThrow();
        this.set(Number(row.count));
      } catch (err) {
        onScrapeError(err);
      }
    },
  });

  return { registry };
}

/** True when `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Counts and times every request under its route pattern (`/v1/intents/:id`, never the raw URL, so
 * the label set stays small), and serves GET /metrics.
 *
 * Who may scrape: the API table lists /metrics without a role, and Prometheus scrapers usually carry
 * no bearer token. Bound to loopback, only this machine can reach the port, so /metrics is public;
 * bound to any other address it needs a token (viewer or better), because intent counts per channel
 * are not for the whole network. A scraper then sends `Authorization: Bearer <viewer token>`
 * (Prometheus `authorization.credentials_file`).
 */
export function installMetrics(app: FastifyInstance, metrics: CoordinatorMetrics, bindHost: string): void {
  const requests = new Counter({
    name: 'handoff_http_requests_total',
    help: 'HTTP requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: 'handoff_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics.registry],
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    const seconds = reply.elapsedTime / 1000;
    requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    duration.observe({ route, method: request.method }, seconds);
    request.log.debug(
      { method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  const access: Access = isLoopbackHost(bindHost) ? 'public' : 'viewer';
  app.get('/metrics', { config: { access } }, async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
