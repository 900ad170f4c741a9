import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { CreateTokenBody, CreatedToken } from '@handoff/contracts';
import { createToken, principalOf } from '../auth.ts';

/** /v1/tokens: an operator mints a token. The secret is in this answer only; the DB keeps its hash. */
export const tokenRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/',
    { config: { access: 'operator' }, schema: { body: CreateTokenBody, response: { 201: CreatedToken } } },
    async (request, reply) => {
      const actor = principalOf(request).actor;
      const created = await createToken(app.db, request.body.role, request.body.name ?? null, actor);
      await app.intents.audit({
        actor,
        action: 'token.create',
        target: created.id,
        details: { role: created.role, name: created.name },
      });
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );
};
