import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ChatCompletionsBody, ResponsesBody } from '@handoff/contracts';
import type { RouteCaller, Router, RouterAnswer } from '@handoff/router';
import { routerCallsLimit } from '../rateLimit.ts';

/**
 * Prompts of long-context models are larger than the API's usual 1 MiB: the largest context window
 * in use is about 1M tokens, about 4 MiB of text at o200k's ~4 bytes a token; twice that leaves room
 * for JSON escaping, tool definitions and a small inline image. Every byte of a body is held and
 * parsed on the event loop, so the limit is no larger than a real prompt needs (decision 30).
 */
export const ROUTER_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

export interface RouterRoutesOptions {
  router: Router;
}

/** Aborts when the client goes away before the answer is complete, so the upstream call stops too. */
function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  request.raw.once('aborted', () => controller.abort());
  return controller.signal;
}

/** The caller as router_usage names it: the token's name, else its `<role>:<id>` (none without auth). */
function callerOf(request: FastifyRequest): RouteCaller {
  const p = request.principal;
  return { tokenName: p ? (p.name ?? p.actor) : null };
}

function send(reply: FastifyReply, answer: RouterAnswer): FastifyReply {
  reply.code(answer.status).headers(answer.headers);
  if (Buffer.isBuffer(answer.body)) return reply.send(answer.body);
  // Each chunk is written as it comes: no buffering between the node and the client.
  return reply.send(Readable.from(answer.body));
}

/** The model router's OpenAI-compatible endpoints (no prefix). */
export const routerRoutes: FastifyPluginAsyncZod<RouterRoutesOptions> = async (app, { router }) => {
  app.get('/v1/models', { config: { access: 'viewer' } }, async () => router.models());
  // node URLs without user-info (NodeHealth.status)
  app.get('/v1/router/nodes', { config: { access: 'viewer' } }, async () => ({ nodes: router.nodes() }));

  app.post(
    '/v1/chat/completions',
    {
      config: { access: 'agent', rateLimit: routerCallsLimit },
      bodyLimit: ROUTER_BODY_LIMIT_BYTES,
      schema: { body: ChatCompletionsBody },
    },
    async (request, reply) =>
      send(reply, await router.chatCompletions(request.body, clientGone(request, reply), callerOf(request))),
  );

  app.post(
    '/v1/responses',
    {
      config: { access: 'agent', rateLimit: routerCallsLimit },
      bodyLimit: ROUTER_BODY_LIMIT_BYTES,
      schema: { body: ResponsesBody },
    },
    async (request, reply) =>
      send(reply, await router.responses(request.body, clientGone(request, reply), callerOf(request))),
  );
};
