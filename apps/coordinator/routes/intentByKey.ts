import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError, IdempotencyKey, IntentDetail } from '@handoff/contracts';

export const IntentByKeyQuery = z.strictObject({ idempotencyKey: IdempotencyKey });

/**
 * GET /v1/intents/by-key?idempotencyKey=K (viewer+): the intent a key names, as GET /v1/intents/:id
 * answers it. An agent that lost the id after a crash finds its intent by the key it chose (the MCP
 * tools intent_status and wait_for_intent). Keys never expire, so the answer is stable.
 */
export const intentByKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/intents/by-key',
    { config: { access: 'viewer' }, schema: { querystring: IntentByKeyQuery, response: { 200: IntentDetail } } },
    async (request) => {
      const key = request.query.idempotencyKey;
      // the unique index on idempotency_key serves this
      const row = await app.db.selectFrom('intents').select('id').where('idempotency_key', '=', key).executeTakeFirst();
      const intent = row ? await app.intents.get(row.id) : null;
      if (!intent) throw new ApiError(404, 'not_found', `no intent has the idempotencyKey ${JSON.stringify(key)}`);
      return intent;
    },
  );
};
