import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  ApiError,
  ConsoleSession,
  ConsoleSignInBody,
  ConsoleSignInLink,
  PendingApprovalList,
  actorOf,
} from '@handoff/contracts';
import type { Role } from '@handoff/contracts';
import { findToken, principalOf } from '../auth.ts';
import { previewOf } from './previews.ts';
import { assertSameOrigin, ownOrigin, sessionCookieName } from './sessions.ts';
import type { SessionStore } from './sessions.ts';

/**
 * The console (docs/console.md): a page of plain HTML, CSS and JS under /console/, and the few
 * endpoints only it needs under /console/api/. Everything it shows and changes otherwise goes
 * through the /v1 API with the session cookie standing in for the bearer token (auth.ts).
 */

/** The most pending approvals one answer carries (oldest first); `total` says how many there are. */
export const MAX_PENDING_SHOWN = 200;

const STATIC_DIR = new URL('./static/', import.meta.url);
const STATIC_FILES = new Set(['console.css', 'console.js']);

/** The page runs only its own script and style, talks only to its own origin, and cannot be framed. */
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
};

/** People sign in to the console; agent tokens belong to programs (decision 105). */
const CONSOLE_ROLES: readonly Role[] = ['operator', 'viewer'];

function sessionAnswer(request: FastifyRequest): ConsoleSession {
  const principal = principalOf(request);
  const session = request.consoleSession;
  if (!session) throw new ApiError(404, 'not_found', 'no console session: this request came with a bearer token');
  return {
    role: principal.role,
    name: principal.name,
    actor: principal.actor,
    csrfToken: session.csrfToken,
    expiresAt: session.expiresAt.toISOString(),
  };
}

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, expiresAt: Date): void {
  reply.setCookie(sessionCookieName(request), value, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: request.protocol === 'https',
    expires: expiresAt,
  });
}

const consoleRoutes: FastifyPluginAsyncZod<{ sessions: SessionStore }> = async (app, { sessions }) => {
  // sendFile only: each file is a route of its own below, declared public (it holds no data)
  await app.register(fastifyStatic, { root: fileURLToPath(STATIC_DIR), serve: false });
  const indexHtml = await readFile(new URL('index.html', STATIC_DIR), 'utf8');

  app.get('/console', { config: { access: 'public' } }, async (_request, reply) => reply.redirect('/console/'));
  app.get('/console/', { config: { access: 'public' } }, async (_request, reply) =>
    reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(indexHtml),
  );
  app.get<{ Params: { file: string } }>(
    '/console/assets/:file',
    { config: { access: 'public' } },
    async (request, reply) => {
      if (!STATIC_FILES.has(request.params.file))
        throw new ApiError(404, 'not_found', `no console asset ${request.params.file}`);
      return reply.headers(PAGE_HEADERS).sendFile(request.params.file, { cacheControl: false });
    },
  );

  app.post(
    '/console/api/session',
    { config: { access: 'public' }, schema: { body: ConsoleSignInBody, response: { 200: ConsoleSession } } },
    async (request, reply) => {
      // a sign-in from another site's page would sign the browser in as someone else (login CSRF)
      assertSameOrigin(request);
      const body = request.body;
      let tokenId: string | null;
      if ('code' in body) {
        tokenId = await sessions.redeemCode(body.code);
        if (tokenId === null)
          throw new ApiError(
            401,
            'unauthorized',
            'this sign-in link was used already or has expired; sign in with a token',
          );
      } else {
        tokenId = (await findToken(app.db, body.token))?.id ?? null;
        if (tokenId === null) throw new ApiError(401, 'unauthorized', 'invalid, expired or revoked token');
      }
      const token = await app.db
        .selectFrom('api_tokens')
        .select(['id', 'role', 'name'])
        .where('id', '=', tokenId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      // a code's token may have been revoked since; an expired one is refused at the next request
      if (!token) throw new ApiError(401, 'unauthorized', 'invalid, expired or revoked token');
      if (!CONSOLE_ROLES.includes(token.role))
        throw new ApiError(403, 'forbidden', 'the console is for people: sign in with an operator or viewer token');
      const created = await sessions.create(token.id);
      setSessionCookie(request, reply, created.cookie, created.expiresAt);
      await app.intents.audit({
        actor: actorOf({ tokenId: token.id, role: token.role }),
        action: 'console.sign_in',
        target: token.id,
        details: { via: 'code' in body ? 'link' : 'token' },
      });
      return reply.header('cache-control', 'no-store').send({
        role: token.role,
        name: token.name,
        actor: actorOf({ tokenId: token.id, role: token.role }),
        csrfToken: created.csrfToken,
        expiresAt: created.expiresAt.toISOString(),
      });
    },
  );

  app.get(
    '/console/api/session',
    { config: { access: 'viewer' }, schema: { response: { 200: ConsoleSession } } },
    async (request, reply) => reply.header('cache-control', 'no-store').send(sessionAnswer(request)),
  );

  // signing out changes state: the auth hook has checked Origin and the CSRF token
  app.delete('/console/api/session', { config: { access: 'viewer' } }, async (request, reply) => {
    const session = request.consoleSession;
    if (session) await sessions.destroy(session.idHash);
    reply.clearCookie(sessionCookieName(request), { path: '/' });
    return reply.code(204).send();
  });

  app.post(
    '/console/api/signin-links',
    { config: { access: 'operator' }, schema: { response: { 201: ConsoleSignInLink } } },
    async (request, reply) => {
      const { code, expiresAt } = await sessions.createCode(principalOf(request).tokenId);
      // the code rides in the fragment: browsers do not send it, so no log or Referer ever holds it
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ url: `${ownOrigin(request)}/console/#code=${code}`, expiresAt: expiresAt.toISOString() });
    },
  );

  app.get(
    '/console/api/pending',
    { config: { access: 'viewer' }, schema: { response: { 200: PendingApprovalList } } },
    async () => {
      const [rows, total] = await Promise.all([
        app.db
          .selectFrom('intents')
          .select(['id', 'channel', 'account', 'idempotency_key', 'created_at', 'created_by', 'payload'])
          .where('state', '=', 'pending_approval')
          .orderBy('created_at')
          .orderBy('id')
          .limit(MAX_PENDING_SHOWN)
          .execute(),
        app.db
          .selectFrom('intents')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('state', '=', 'pending_approval')
          .executeTakeFirstOrThrow(),
      ]);
      return {
        approvals: rows.map((r) => ({
          id: r.id,
          channel: r.channel,
          account: r.account,
          idempotencyKey: r.idempotency_key,
          createdAt: new Date(r.created_at).toISOString(),
          createdBy: r.created_by,
          payload: r.payload,
          preview: previewOf(r.channel, r.payload),
        })),
        total: Number(total.n),
      };
    },
  );
};

/**
 * Mounts the console: @fastify/cookie on the root instance (the auth hook reads the session cookie
 * on every route), then the console's routes.
 */
export async function registerConsole(app: FastifyInstance, sessions: SessionStore): Promise<void> {
  await app.register(fastifyCookie);
  await app.register(consoleRoutes, { sessions });
}
