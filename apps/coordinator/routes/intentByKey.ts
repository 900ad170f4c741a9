import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError, IdempotencyKey, IntentDetail } from '@handoff/contracts';

export const IntentByKeyQuery = z.strictObject({ idempotencyKey: IdempotencyKey });

/**
 * GET /v1/intents/by-key?idempotencyKey=K (viewer+): the intent a key names, as GET /v1/intents/:id
 * answers it. An agent that lost the id after a crash finds its intent by the key it chose (the MCP
 * tools intent_status and wait_for_intent). Keys never expire, so the answer is stable. The lookup
 * is the list's (`GET /v1/intents?idempotencyKey=K`): one home for the SQL.
 */
export const intentByKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/intents/by-key',
    { config: { access: 'viewer' }, schema: { querystring: IntentByKeyQuery, response: { 200: IntentDetail } } },
    async (request) => {
      const key = request.query.idempotencyKey;
      const { intents } = await app.intents.list({ idempotencyKey: key, limit: 1 });
      const intent = intents[0] ? await app.intents.get(intents[0].id) : null;
      if (!intent) throw new ApiError(404, 'not_found', `no intent has the idempotencyKey ${JSON.stringify(key)}`);
      return intent;
    },
  );
};
