import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError, AuditList, AuditQuery } from '@handoff/contracts';
import { listAudit } from '@handoff/intents';
import { principalOf } from '../auth.ts';

/**
 * GET /v1/audit (viewer and operator; not agent): the audit log, newest first, filtered by age (`since=24h`), actor (the
 * recorded `<role>:<id>` or a token's name), action (`gate.close`, or the family `gate`) and target;
 * paged with `cursor`. Rows hold reasons and what was decided, never a token or a secret, so a
 * viewer (the console's read-only user) may read them too. An agent token may not: the log holds
 * every agent's commands and sessions, and one program never reads another's (decision 104).
 */
export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/audit',
    { config: { access: 'viewer' }, schema: { querystring: AuditQuery, response: { 200: AuditList } } },
    async (request) => {
      const role = principalOf(request).role;
      if (role === 'agent')
        throw new ApiError(403, 'forbidden', 'the audit log is for people: use a viewer or operator token');
      return listAudit(app.db, request.query);
    },
  );
};
