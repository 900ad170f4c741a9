import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';

/** How long /healthz waits for `select 1` before it answers "down". */
const DB_CHECK_TIMEOUT_MS = 2000;

/**
 * GET /healthz, the one route that needs no token: 200 `{ok: true, db: 'up'}` when Postgres answers,
 * 503 `{ok: false, db: 'down'}` when it does not (never a 500, never an error body: load balancers and
 * `handoff start` read it as is).
 */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { config: { access: 'public' } }, async (request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql`select 1`.execute(app.db),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`select 1 took longer than ${DB_CHECK_TIMEOUT_MS} ms`)),
            DB_CHECK_TIMEOUT_MS,
          );
        }),
      ]);
      return reply.code(200).send({ ok: true, db: 'up' });
    } catch (err) {
      request.log.warn({ err }, 'health check: database down');
      return reply.code(503).send({ ok: false, db: 'down' });
    } finally {
      clearTimeout(timer);
    }
  });
};
