import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { AttemptOutcome } from '@handoff/contracts';
import { createDb, createPool, migrate, type Db } from '@handoff/db';
import {
  appendFailureReceipt,
  appendSuccessReceipt,
  appendSuccessReceipts,
  claimLeases,
  closeAbandonedAttempt,
  ensureTicketQueue,
  GATES_CHANNEL,
  recordAttempt,
  recordAttempts,
  releaseLease,
  renewLease,
  scheduleRetry,
  startBoss,
  sweep,
  type ClaimedLease,
  type Fence as LeaseFence,
  type RateLimited,
  type RecordedAttempt,
  type SweepOptions,
  type SweepResult,
} from '@handoff/intents';
import { drainUntil } from '@handoff/ratelimit';
import { createBatchedWrites } from './batchedWrites.ts';

export { GATES_CHANNEL };
export type { ClaimedLease, RateLimited, RecordedAttempt, SweepResult };

/**
 * The lease an executor write is conditional on: the intent, the epoch its claim took, and the
 * channel whose ticket queue a release or retry re-tickets into. The store adds its executor id.
 */
export type Fence = Omit<LeaseFence, 'executorId'> & { channel: string };

/** A write-ahead attempt asked for under a lease; `rateKey` names the token bucket it draws from. */
export interface AttemptRequest {
  intentId: string;
  epoch: number;
  rateKey: string;
}

export interface SuccessReceipt {
  fence: Fence;
  attemptNo: number;
  externalId: string;
  url: string | null;
}

export interface FailureReceipt {
  /** `die`: permanent or budget spent; `doubt`: the outcome is unknown. */
  to: 'die' | 'doubt';
  attemptNo: number | null;
  errorClass: string;
  message: string;
  source: 'execute' | 'reconcile';
  /** Whether this failure spends one of the intent's attempts. */
  countFailure: boolean;
}

export interface Release {
  runAfter: Date | null;
  reason: string;
  attemptOutcome?: AttemptOutcome;
  /** Rate limited before the attempt: the intent keeps its place in line for the next token. */
  inLineForToken?: boolean;
}

/**
 * Everything the executor reads and writes in Postgres, holding its db, pg-boss and executor id
 * once: the one seam between the executor and `@handoff/intents` for intents, attempts, receipts
 * and tickets (the only other import of it is fleetPolicy.ts, for the published policy), where attempts and receipts are grouped across the intents in flight (batchedWrites.ts) and
 * where a test can see every write. Every write after the claim is fenced by the lease epoch and
 * answers false (or null) when a newer epoch holds the intent.
 */
export interface ExecutorStore {
  readonly db: Db;
  readonly boss: PgBoss;
  readonly executorId: string;
  /** Leases in one statement the intents of a ticket batch that are eligible here; the rest are left out. */
  claimLeases(intentIds: string[], args: { ttlSeconds: number; heldKeys: string[] }): Promise<ClaimedLease[]>;
  renewLease(lease: { intentId: string; epoch: number; ttlSeconds: number }): Promise<boolean>;
  /** The write-ahead attempt, taking a rate token first; grouped with the others in flight. */
  recordAttempt(request: AttemptRequest): Promise<RecordedAttempt | RateLimited | null>;
  /** A connector's success; grouped with the others in flight. */
  appendSuccessReceipt(receipt: SuccessReceipt): Promise<boolean>;
  /** An abandoned attempt the connector found done: the success is the earlier holder's attempt. */
  appendReconciledReceipt(
    fence: Fence,
    receipt: { attemptNo: number; externalId: string; url: string | null },
  ): Promise<boolean>;
  appendFailureReceipt(fence: Fence, failure: FailureReceipt): Promise<boolean>;
  /** An abandoned attempt the connector found not done: closed, so this holder may try again. */
  closeAbandonedAttempt(fence: Fence, abandonedEpoch: number): Promise<boolean>;
  /** Gives the intent back without spending an attempt, re-ticketed for `runAfter` (now when null). */
  releaseLease(fence: Fence, release: Release): Promise<boolean>;
  scheduleRetry(fence: Fence, retry: { runAfter: Date; errorClass: string; message: string }): Promise<boolean>;
  /** A provider's 429: the account's bucket holds no token until `until`, for every executor. */
  drainBucket(rateKey: string, until: Date): Promise<boolean>;
  sweep(opts: SweepOptions): Promise<SweepResult | null>;
  ensureTicketQueue(channel: string): Promise<string>;
}

export function createExecutorStore(args: { db: Db; boss: PgBoss; executorId: string }): ExecutorStore {
  const { db, boss, executorId } = args;
  const full = (fence: Fence) => ({ ...fence, executorId });
  const writes = createBatchedWrites({
    recordAttempts: (requests) => recordAttempts(db, executorId, requests),
    recordAttempt: (request) => recordAttempt(db, { ...request, executorId }),
    appendSuccessReceipts: (receipts) =>
      appendSuccessReceipts(
        db,
        receipts.map((r) => ({ ...r, fence: full(r.fence) })),
      ),
  });
  return {
    db,
    boss,
    executorId,
    claimLeases: (intentIds, a) =>
      claimLeases(db, { intentIds, owner: executorId, ttlSeconds: a.ttlSeconds, heldKeys: a.heldKeys }),
    renewLease: (lease) => renewLease(db, { ...lease, owner: executorId }),
    recordAttempt: writes.recordAttempt,
    appendSuccessReceipt: writes.appendSuccessReceipt,
    appendReconciledReceipt: (fence, r) =>
      appendSuccessReceipt(db, full(fence), { ...r, source: 'reconcile', outcome: 'reconciled_done' }),
    appendFailureReceipt: (fence, failure) => appendFailureReceipt(db, full(fence), failure),
    closeAbandonedAttempt: (fence, abandonedEpoch) =>
      closeAbandonedAttempt(db, fence, abandonedEpoch, 'reconciled_not_done'),
    releaseLease: (fence, release) => releaseLease(db, boss, full(fence), release),
    scheduleRetry: (fence, retry) => scheduleRetry(db, boss, full(fence), retry),
    drainBucket: (rateKey, until) => drainUntil(db, rateKey, until),
    sweep: (opts) => sweep(db, boss, opts),
    ensureTicketQueue: (channel) => ensureTicketQueue(boss, channel),
  };
}

/**
 * Whether this connection's user is a node's role (a member of `handoff_node`, migrations
 * 005_node_roles.sql): it may not migrate, create pg-boss's objects or run pg-boss's maintenance;
 * the coordinator (the owner) does those.
 */
async function connectsAsNode(db: Db): Promise<boolean> {
  const result = await sql<{ node: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM pg_catalog.pg_auth_members m
      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid AND g.rolname = 'handoff_node'
      JOIN pg_catalog.pg_roles u ON u.oid = m.member AND u.rolname = session_user) AS node`.execute(db);
  return result.rows[0]?.node === true;
}

/**
 * The production store: its own pool (sized for a batch in flight), the schema migrated, pg-boss
 * started. A node's executor (its own role) finds the schema migrated by the coordinator instead.
 */
export async function openExecutorStore(args: {
  databaseUrl: string;
  executorId: string;
  poolMax: number;
  log: Logger;
}): Promise<ExecutorStore> {
  const pool = createPool(args.databaseUrl, {
    max: args.poolMax,
    applicationName: `handoff-executor:${args.executorId}`,
    onError: (err) => args.log.warn({ err: err.message }, 'idle Postgres connection failed'),
  });
  const db = createDb(pool);
  const node = await connectsAsNode(db);
  if (!node) await migrate(pool, { log: (msg) => args.log.debug(msg) });
  const boss = await startBoss(args.databaseUrl, { log: args.log, supervise: !node });
  return createExecutorStore({ db, boss, executorId: args.executorId });
}
