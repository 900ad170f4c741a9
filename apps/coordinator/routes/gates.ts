import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Gate, GateParams, SetGateBody } from '@handoff/contracts';
import { principalOf } from '../auth.ts';

export const GateList = z.object({ gates: z.array(Gate) });

/** /v1/gates: the kill switches. Reading is viewer+, setting is operator. Prefix `/v1/gates`. */
export const gateRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/', { config: { access: 'viewer' }, schema: { response: { 200: GateList } } }, async () => ({
    gates: await app.intents.listGates(),
  }));

  app.put(
    '/:scope',
    { config: { access: 'operator' }, schema: { params: GateParams, body: SetGateBody, response: { 200: Gate } } },
    async (request) => app.intents.setGate(request.params.scope, request.body, principalOf(request).actor),
  );
};
