import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ApiError,
  GLOBAL_SCOPE,
  Gate,
  GateParams,
  RemoveGateQuery,
  RemovedGate,
  SetGateBody,
} from '@handoff/contracts';
import { builtInConnectors, type Connector } from '@handoff/connectors';
import { accountKnown, deleteOpenGate } from '@handoff/intents';
import { principalOf } from '../auth.ts';

export const GateList = z.object({ gates: z.array(Gate) });

export interface GateRoutesOptions {
  /** The channels a gate may name without `force`; default the built-in connectors. */
  connectors?: readonly Connector[];
}

/**
 * /v1/gates: the kill switches, `open` or `closed`. Reading is viewer+; setting and removing is
 * operator. Closing a gate on a channel handoff has no connector for, or on an account no executor announces
 * and no intent ever used, is refused (422 unknown_scope) unless the body says `force`: a typo would
 * otherwise close nothing while the operator believes it closed something. Prefix `/v1/gates`.
 */
export const gateRoutes: FastifyPluginAsyncZod<GateRoutesOptions> = async (app, opts) => {
  const channels = (opts.connectors ?? builtInConnectors).map((c) => c.name).sort();

  async function checkKnown(scope: string): Promise<void> {
    if (scope === GLOBAL_SCOPE) return;
    const at = scope.indexOf(':');
    const channel = at < 0 ? scope : scope.slice(0, at);
    if (!channels.includes(channel)) {
      throw new ApiError(
        422,
        'unknown_scope',
        `no channel "${channel}" (known: ${channels.join(', ')}); to set this gate anyway, force it`,
        { field: 'scope', known: channels },
      );
    }
    if (at >= 0 && !(await accountKnown(app.db, channel, scope.slice(at + 1)))) {
      throw new ApiError(
        422,
        'unknown_scope',
        `no executor announces the account "${scope.slice(at + 1)}" of ${channel} and no intent used it; to set this gate anyway, force it`,
        { field: 'scope' },
      );
    }
  }

  app.get('/', { config: { access: 'viewer' }, schema: { response: { 200: GateList } } }, async () => ({
    gates: await app.intents.listGates(),
  }));

  app.put(
    '/:scope',
    { config: { access: 'operator' }, schema: { params: GateParams, body: SetGateBody, response: { 200: Gate } } },
    async (request) => {
      const { scope } = request.params;
      const { force, ...gate } = request.body;
      // opening cannot be a typo that matters: it only lets through what a gate on the scope held
      if (!force && !gate.enabled) await checkKnown(scope);
      return app.intents.setGate(scope, gate, principalOf(request).actor);
    },
  );

  /**
   * Removes a gate: it is opened (waking what it held, as `open` does), then its row is deleted, so
   * the scope is no longer listed. Removing a scope without a gate answers `removed: false`.
   */
  app.delete(
    '/:scope',
    {
      config: { access: 'operator' },
      schema: { params: GateParams, querystring: RemoveGateQuery, response: { 200: RemovedGate } },
    },
    async (request) => {
      const { scope } = request.params;
      const actor = principalOf(request).actor;
      const reason = request.query.reason ?? null;
      const existing = (await app.intents.listGates()).find((g) => g.scope === scope);
      if (!existing) return { scope, state: 'open' as const, removed: false };
      if (existing.state === 'closed') {
        await app.intents.setGate(scope, { enabled: true, ...(reason === null ? {} : { reason }) }, actor);
      }
      return { scope, state: 'open' as const, removed: await deleteOpenGate(app.db, scope, actor, reason) };
    },
  );
};
