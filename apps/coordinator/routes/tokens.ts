import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  CreateTokenBody,
  CreatedToken,
  MAX_LISTED_TOKENS,
  TokenIdParams,
  TokenInfo,
  TokenList,
} from '@handoff/contracts';
import { createToken, principalOf, revokeToken, TOKEN_INFO_COLUMNS, toTokenInfo } from '../auth.ts';

/**
 * /v1/tokens (operator only): mint a token (the secret is in this answer only; the DB keeps its
 * hash), list them, so the `<role>:<id>` that audit rows record can be matched to a name, and
 * revoke one. Creating and revoking are audited.
 */
export const tokenRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/',
    { config: { access: 'operator' }, schema: { body: CreateTokenBody, response: { 201: CreatedToken } } },
    async (request, reply) => {
      const actor = principalOf(request).actor;
      const { role, name, expiresIn } = request.body;
      const created = await createToken(app.db, role, name ?? null, actor, expiresIn ?? null);
      await app.intents.audit({
        actor,
        action: 'token.create',
        target: created.id,
        details: { role: created.role, name: created.name, expiresAt: created.expiresAt },
      });
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get('/', { config: { access: 'operator' }, schema: { response: { 200: TokenList } } }, async () => {
    const rows = await app.db
      .selectFrom('api_tokens')
      .select(TOKEN_INFO_COLUMNS)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(MAX_LISTED_TOKENS + 1)
      .execute();
    return { tokens: rows.slice(0, MAX_LISTED_TOKENS).map(toTokenInfo), truncated: rows.length > MAX_LISTED_TOKENS };
  });

  app.post(
    '/:id/revoke',
    {
      config: { access: 'operator', allowEmptyBody: true },
      schema: { params: TokenIdParams, response: { 200: TokenInfo } },
    },
    async (request) => {
      const actor = principalOf(request).actor;
      const { token, revoked } = await revokeToken(app.db, request.params.id);
      // a second revoke changes nothing, so it writes nothing either
      if (revoked) {
        await app.intents.audit({
          actor,
          action: 'token.revoke',
          target: token.id,
          details: { role: token.role, name: token.name },
        });
      }
      return token;
    },
  );
};
