import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ApiError,
  ApproveBody,
  CreateIntentBody,
  HeldIntent,
  HeldIntentDetail,
  Intent,
  NOTIFY_CHANNEL,
  IntentIdParams,
  IntentList,
  ListIntentsQuery,
  RejectBody,
  ResolveBody,
  RetryBody,
  type Hold,
} from '@handoff/contracts';
import { holdsOn } from '@handoff/intents';
import { principalOf } from '../auth.ts';
import { createsLimit } from '../rateLimit.ts';

/**
 * A body that may be left out. Fastify hands a missing body to validation as `null`; the contract
 * schemas (ApproveBody, RetryBody) default `undefined` to `{}`.
 */
function optionalBody<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}

/** States in which a closed gate or an open breaker can be what an intent waits for. */
const MAY_BE_HELD = new Set(['pending_approval', 'approved', 'retry_wait']);

/**
 * /v1/intents: create (agent, operator), list (also by `idempotencyKey`) and show (viewer+), and the
 * operator's decisions. Show, approve and retry say what holds the intent back (`heldBy`).
 * Registered with the prefix `/v1/intents`.
 */
export const intentRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/',
    {
      config: { access: 'agent', rateLimit: createsLimit },
      schema: { body: CreateIntentBody, response: { 200: Intent, 201: Intent } },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // Notifications reach an operator's phone: a program holding an agent token must not write them.
      if (principal.role === 'agent' && request.body.channel === NOTIFY_CHANNEL)
        throw new ApiError(
          403,
          'forbidden',
          `the ${NOTIFY_CHANNEL} channel is written by the coordinator's notifier only; an agent token may not create its intents`,
        );
      const { intent, created } = await app.intents.create(request.body, principal.actor);
      if (created) reply.header('location', `/v1/intents/${intent.id}`);
      return reply.code(created ? 201 : 200).send(intent);
    },
  );

  app.get(
    '/',
    { config: { access: 'viewer' }, schema: { querystring: ListIntentsQuery, response: { 200: IntentList } } },
    async (request) => app.intents.list(request.query),
  );

  /** The intent with `heldBy`: what keeps it from starting (closed gates, open breakers), if anything. */
  async function withHolds<T extends Intent>(intent: T): Promise<T & { heldBy: Hold[] }> {
    return { ...intent, heldBy: MAY_BE_HELD.has(intent.state) ? await holdsOn(app.db, intent) : [] };
  }

  app.get(
    '/:id',
    { config: { access: 'viewer' }, schema: { params: IntentIdParams, response: { 200: HeldIntentDetail } } },
    async (request) => {
      const intent = await app.intents.get(request.params.id);
      if (!intent) throw new ApiError(404, 'not_found', `no intent ${request.params.id}`);
      return withHolds(intent);
    },
  );

  app.post(
    '/:id/approve',
    {
      config: { access: 'operator', allowEmptyBody: true },
      schema: { params: IntentIdParams, body: optionalBody(ApproveBody), response: { 200: HeldIntent } },
    },
    async (request) =>
      withHolds(await app.intents.approve(request.params.id, principalOf(request).actor, request.body.reason)),
  );

  app.post(
    '/:id/reject',
    { config: { access: 'operator' }, schema: { params: IntentIdParams, body: RejectBody, response: { 200: Intent } } },
    async (request) => app.intents.reject(request.params.id, principalOf(request).actor, request.body.reason),
  );

  app.post(
    '/:id/retry',
    {
      config: { access: 'operator', allowEmptyBody: true },
      schema: { params: IntentIdParams, body: optionalBody(RetryBody), response: { 200: HeldIntent } },
    },
    async (request) =>
      withHolds(await app.intents.retry(request.params.id, principalOf(request).actor, request.body.reason)),
  );

  app.post(
    '/:id/resolve',
    {
      config: { access: 'operator' },
      schema: { params: IntentIdParams, body: ResolveBody, response: { 200: Intent } },
    },
    async (request) => app.intents.resolve(request.params.id, principalOf(request).actor, request.body),
  );
};
