import { after, before } from 'node:test';
import { z } from 'zod';
import type { Intent } from '@handoff/contracts';
import type { Connector, ReconcileResult } from '@handoff/connectors';
import { startPipeline, type PipelineHarness } from '../support/pipeline.ts';

/**
 * What the test/intents files share: the real store, pg-boss and executor pipeline against a fresh
 * database of their own (test/support/pipeline.ts), a connector each test scripts, and the few row
 * edits that put an intent where a test needs it.
 */

/** A connector whose behaviour each test scripts, and which counts its calls. */
function scriptedConnector() {
  const state = {
    executeCalls: 0,
    reconcileCalls: 0,
    execute: (): Promise<{ externalId: string; url?: string | null }> =>
      Promise.resolve({ externalId: 'ext-1', url: 'https://example.test/1' }),
    reconcile: undefined as undefined | (() => Promise<ReconcileResult>),
  };
  const connector: Connector<Record<string, unknown>> = {
    name: 'scripted',
    externalEffect: true,
    needsCredentials: false,
    payloadSchema: z.record(z.string(), z.unknown()),
    execute: () => {
      state.executeCalls++;
      return state.execute();
    },
    reconcile(_intent) {
      state.reconcileCalls++;
      if (!state.reconcile) return Promise.resolve({ status: 'unknown', reason: 'no script' } as const);
      return state.reconcile();
    },
  };
  return { connector, state };
}

export interface IntentsHarness {
  /** Set once `before` ran. */
  h: PipelineHarness;
  scripted: ReturnType<typeof scriptedConnector>['state'];
  newIntent(opts?: { channel?: string; account?: string; payload?: Record<string, unknown> }): Promise<Intent>;
  stateOf(id: string): Promise<string>;
  /** The lease's TTL ran out: another executor may take it over. */
  expireLease(id: string): Promise<void>;
  /** Due now, whatever backoff said. */
  makeRunnable(id: string): Promise<void>;
}

/**
 * Registers `before`/`after` hooks that start and close the harness. The `scripted` channel needs
 * no approval, retries 3 times quickly, leases for 1 s, opens its breaker after 2 failures, and its
 * account `limited` has a rate-limit bucket of 2 tokens that hardly refills.
 */
export function useIntentsHarness(): IntentsHarness {
  const { connector, state } = scriptedConnector();
  let seq = 0;
  const harness: IntentsHarness = {
    h: undefined as unknown as PipelineHarness,
    scripted: state,
    async newIntent(opts = {}) {
      const { intent } = await harness.h.service.create(
        {
          channel: opts.channel ?? 'scripted',
          account: opts.account ?? `acct${seq}`,
          payload: opts.payload ?? { n: seq },
          idempotencyKey: `intents-${process.pid}-${++seq}`,
        },
        'test',
      );
      return intent;
    },
    async stateOf(id) {
      const row = await harness.h.tdb.db
        .selectFrom('intents')
        .select('state')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return row.state;
    },
    async expireLease(id) {
      await harness.h.tdb.db
        .updateTable('intents')
        .set({ lease_expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', id)
        .execute();
    },
    async makeRunnable(id) {
      await harness.h.tdb.db.updateTable('intents').set({ run_after: null }).where('id', '=', id).execute();
    },
  };
  before(async () => {
    harness.h = await startPipeline({
      connectors: [connector],
      policy: {
        approval: { rules: [{ channel: 'scripted', requireApproval: false }] },
        retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
        lease: { ttlSeconds: 1 },
        breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
        rateLimits: { 'scripted:limited': { capacity: 2, refillPerSecond: 0.01 } },
      },
    });
  });
  after(async () => {
    await harness.h.close();
  });
  return harness;
}
