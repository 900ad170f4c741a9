import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError, DoctorReport } from '@handoff/contracts';
import { coordinatorDoctor } from '@handoff/doctor';
import { principalOf } from '../auth.ts';

/**
 * GET /v1/doctor (viewer and operator; not agent): every check `handoff doctor` asks the coordinator
 * for, as ok / warn / fail lines. Always 200 when the checks ran, whatever they found: the status is
 * in the body. An agent token may not: the report names hosts, paths and nodes, which are for people.
 */
export const doctorRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/doctor',
    { config: { access: 'viewer' }, schema: { response: { 200: DoctorReport } } },
    async (request) => {
      if (principalOf(request).role === 'agent')
        throw new ApiError(403, 'forbidden', 'the doctor report is for people: use a viewer or operator token');
      return coordinatorDoctor(app.db, app.handoffHome);
    },
  );
};
