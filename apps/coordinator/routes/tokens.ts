import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, CreateTokenBody, CreatedToken, MAX_LISTED_TOKENS, TokenList } from '@handoff/contracts';
import { createToken, principalOf } from '../auth.ts';

/**
 * /v1/tokens: an operator mints a token (the secret is in this answer only; the DB keeps its hash)
 * and lists them, so the `<role>:<id>` that audit rows record can be matched to a name.
 */
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

  app.get('/', { config: { access: 'operator' }, schema: { response: { 200: TokenList } } }, async () => {
    const rows = await app.db
      .selectFrom('api_tokens')
      .select(['id', 'role', 'name', 'created_at', 'created_by', 'last_used_at', 'revoked_at'])
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(MAX_LISTED_TOKENS + 1)
      .execute();
    const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
    return {
      tokens: rows.slice(0, MAX_LISTED_TOKENS).map((r) => ({
        id: r.id,
        role: r.role,
        name: r.name,
        actor: actorOf({ tokenId: r.id, role: r.role }),
        createdAt: r.created_at.toISOString(),
        createdBy: r.created_by,
        lastUsedAt: iso(r.last_used_at),
        revokedAt: iso(r.revoked_at),
      })),
      truncated: rows.length > MAX_LISTED_TOKENS,
    };
  });
};
