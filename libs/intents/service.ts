import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { Policy } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import type { IntentService } from './api.ts';
import { buildLiveReport } from './live.ts';
import { newIntent, type ConnectorCatalog } from './newIntent.ts';
import { appendAudit } from './sql/audit.ts';
import { createIntentBatcher } from './sql/createIntents.ts';
import { listGates, reticketCovered, writeGate } from './sql/gates.ts';
import { intentDetail } from './sql/intentDetail.ts';
import { listIntents } from './sql/listIntents.ts';
import { approveIntent, rejectIntent, resolveIntent, retryIntent } from './sql/operator.ts';

export { GATES_CHANNEL } from './sql/gates.ts';
export { MAX_INTENT_PAYLOAD_BYTES, type ConnectorCatalog } from './newIntent.ts';

export interface IntentServiceDeps {
  db: Db;
  boss: PgBoss;
  connectors: ConnectorCatalog;
  policy: () => Policy;
  log: Logger;
}

/**
 * The intent store as the coordinator and the agent use it: each method is one statement family of
 * sql/ with the policy in force at the moment of the call. Refusals are IntentErrors (errors.ts).
 */
export function createIntentService(deps: IntentServiceDeps): IntentService {
  const { db, boss, connectors, policy, log } = deps;
  const insertIntent = createIntentBatcher(db, boss);
  return {
    // async: a refusal of newIntent rejects the promise like every other refusal
    create: async (body, actor) => insertIntent(newIntent(body, actor, connectors, policy())),
    list: (query) => listIntents(db, query),
    get: (id) => intentDetail(db, id),
    approve: (id, actor, reason) => approveIntent(db, boss, id, actor, reason, policy().approval.ttlSeconds),
    reject: (id, actor, reason) => rejectIntent(db, id, actor, reason),
    retry: (id, actor, reason) => retryIntent(db, boss, id, actor, reason, policy().approval.ttlSeconds),
    resolve: (id, actor, body) => resolveIntent(db, id, actor, body),
    listGates: () => listGates(db),
    async setGate(scope, body, actor) {
      const gate = await writeGate(db, scope, body, actor);
      if (body.enabled) {
        const woken = await reticketCovered(db, boss, scope);
        log.info({ scope, woken }, 'gate opened; covered intents re-ticketed');
      } else {
        log.warn({ scope, reason: body.reason }, 'gate closed');
      }
      return gate;
    },
    live: () => buildLiveReport(db),
    audit: (entry) => appendAudit(db, entry),
  };
}
