import pino from 'pino';
import type { PgBoss } from 'pg-boss';
import { Policy, type PolicyInput } from '@handoff/contracts';
import { builtInConnectors, createConnectorRegistry, type Connector } from '@handoff/connectors';
import { createExecutorStore, createPipelineDeps, type PipelineDeps, type PipelineOptions } from '@handoff/executor';
import { configureBuckets } from '@handoff/ratelimit';
import { createIntentService, startBoss, type IntentService } from '@handoff/intents';
import { createTestDatabase, type TestDatabase } from './database.ts';

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/**
 * The test receivers listen on 127.0.0.1, which webhook and deploy calls may reach only when policy
 * webhook.allowedHosts names it: a policy without a webhook section gets that entry.
 */
export function withLoopbackReceivers(policy: PolicyInput): PolicyInput {
  return policy.webhook ? policy : { ...policy, webhook: { allowedHosts: ['127.0.0.1'] } };
}

export interface PipelineHarness {
  tdb: TestDatabase;
  boss: PgBoss;
  service: IntentService;
  policy: Policy;
  /**
   * Pipeline deps as executor `id` would run it (createPipelineDeps, with its own store, grouped
   * writes and breakers), holding every channel, never gated nor draining, unless `opts` says otherwise.
   */
  executor(
    id: string,
    opts?: Partial<Omit<PipelineOptions, 'store' | 'connectors' | 'policy' | 'heldKeys'>>,
  ): PipelineDeps;
  close(): Promise<void>;
}

/**
 * The real store, real pg-boss and the real executor pipeline in one process, against a fresh
 * database: for guarantees that need precise control over who holds a lease when.
 */
export async function startPipeline(
  opts: { policy?: PolicyInput; connectors?: Connector[] } = {},
): Promise<PipelineHarness> {
  const tdb = await createTestDatabase({ max: 10 });
  const policy = Policy.parse(withLoopbackReceivers(opts.policy ?? {}));
  await configureBuckets(tdb.db, policy.rateLimits);
  const boss = await startBoss(tdb.url, { supervise: false });
  // a test's own connector replaces the built-in of the same name (e.g. one aimed at a fake API)
  const own = opts.connectors ?? [];
  const registry = createConnectorRegistry([
    ...builtInConnectors.filter((b) => !own.some((c) => c.name === b.name)),
    ...own,
  ]);
  const service = createIntentService({ db: tdb.db, boss, connectors: registry, policy: () => policy, log: quietLog });
  const allKeys = registry.names().map((n) => `${n}:*`);
  return {
    tdb,
    boss,
    service,
    policy,
    executor: (id, opts = {}) =>
      createPipelineDeps({
        store: createExecutorStore({ db: tdb.db, boss, executorId: id }),
        connectors: registry,
        policy: () => policy,
        heldKeys: allKeys,
        secrets: {},
        log: quietLog,
        mayStart: () => true,
        draining: () => false,
        // no worker to wake: a test runs the rescheduled ticket itself
        wakeAt: () => undefined,
        ...opts,
      }),
    close: async () => {
      await boss.stop({ graceful: false, close: true }).catch(() => undefined);
      await tdb.drop();
    },
  };
}
