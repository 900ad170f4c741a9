import rateLimit from '@fastify/rate-limit';
import type { RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, Policy } from '@handoff/contracts';

/**
 * Per-token request limits (decision 33): @fastify/rate-limit's in-memory fixed window, keyed by the
 * token's id, so one agent token cannot flood creates or the model router. In memory and per
 * process on purpose: what the limit protects is this process's event loop and CPU, and the check
 * costs no round trip to Postgres. The limits are read from policy.json at each request, so a
 * change applies without a restart. The check runs at preParsing: after the auth hook (which names
 * the token), before the body is read, so a refused caller's body is never parsed.
 */

export type RequestLimits = Policy['requests'];
export const DEFAULT_REQUEST_LIMITS: RequestLimits = Policy.parse({}).requests;

const WINDOW_MS = 60_000;

function limitsOf(request: FastifyRequest): RequestLimits {
  return request.server.requestLimits();
}

export async function installRateLimits(app: FastifyInstance, limits: () => RequestLimits): Promise<void> {
  app.decorate('requestLimits', limits);
  await app.register(rateLimit, {
    global: false,
    hook: 'preParsing',
    keyGenerator: (request) => (request.principal ? `token:${request.principal.tokenId}` : `ip:${request.ip}`),
    allowList: (request) => request.principal?.role === 'operator' && limitsOf(request).operatorExempt,
    errorResponseBuilder: (request, context) =>
      new ApiError(
        429,
        'rate_limited',
        `this token may make ${context.max} of these requests a minute (${request.method} ${request.routeOptions.url ?? ''}); retry in ${context.after}`,
      ),
  });
}

/** A route's `config.rateLimit`: creates of intents, per token and minute. */
export const createsLimit: RateLimitOptions = {
  max: (request) => limitsOf(request).createsPerMinute,
  timeWindow: WINDOW_MS,
};

/** A route's `config.rateLimit`: model router calls, per token, minute and route (chat completions, responses). */
export const routerCallsLimit: RateLimitOptions = {
  max: (request) => limitsOf(request).routerCallsPerMinute,
  timeWindow: WINDOW_MS,
};

declare module 'fastify' {
  interface FastifyInstance {
    /** The per-token request limits in force (policy.json's `requests`). */
    requestLimits: () => RequestLimits;
  }
}
