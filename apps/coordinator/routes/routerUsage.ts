import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError, RouterUsageQuery, RouterUsageReport } from '@handoff/contracts';
import { readUsage } from '@handoff/router';
import { principalOf } from '../auth.ts';

/**
 * GET /v1/router/usage (viewer and operator; not agent): the routed requests on record, aggregated
 * by model, node, day or token over the last `since` (router_usage, docs/router.md "State on
 * record"). Rows name every client token and what it spent, which is for people, like the audit
 * log; an agent token is a program and reads no other program's figures (decision 104).
 */
export const routerUsageRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/router/usage',
    { config: { access: 'viewer' }, schema: { querystring: RouterUsageQuery, response: { 200: RouterUsageReport } } },
    async (request) => {
      if (principalOf(request).role === 'agent')
        throw new ApiError(403, 'forbidden', 'router usage is for people: use a viewer or operator token');
      return readUsage(app.db, request.query);
    },
  );
};
