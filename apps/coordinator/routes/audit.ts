import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AuditList, AuditQuery } from '@handoff/contracts';
import { listAudit } from '@handoff/intents';

/**
 * GET /v1/audit (viewer+): the audit log, newest first, filtered by age (`since=24h`), actor (the
 * recorded `<role>:<id>` or a token's name), action (`gate.close`, or the family `gate`) and target;
 * paged with `cursor`. Rows hold reasons and what was decided, never a token or a secret, so a
 * viewer (the console's read-only user) may read them too.
 */
export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/audit',
    { config: { access: 'viewer' }, schema: { querystring: AuditQuery, response: { 200: AuditList } } },
    async (request) => listAudit(app.db, request.query),
  );
};
