import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import { safeExternalId, safeReceiptUrl, type Policy, type Redactor } from '@handoff/contracts';
import { classifyError, type Connector, type ConnectorContext, type ConnectorIntent, type ConnectorRegistry } from '@handoff/connectors';
import type { Db } from '@handoff/db';
import {
  appendFailureReceipt,
  appendSuccessReceipt,
  claimLeases,
  closeAbandonedAttempt,
  releaseLease,
  scheduleRetry,
  type ClaimedLease,
} from '@handoff/intents';
import { drainUntil } from '@handoff/ratelimit';
import { backoffMs } from './backoff.ts';
import { createBatchedWrites, type BatchedWrites } from './batchedWrites.ts';
import { breakerKey, isOpenCircuitError, type BreakerRegistry } from './breakers.ts';
import { keepLease } from './leaseKeeper.ts';
import { redactorOf, type Secrets } from './secrets.ts';

export interface PipelineDeps {
  db: Db;
  boss: PgBoss;
  connectors: ConnectorRegistry;
  breakers: BreakerRegistry;
  policy: () => Policy;
  secrets: Secrets;
  log: Logger;
  executorId: string;
  heldKeys: string[];
  /** False once this executor must not start new work (local gate, NOTIFYed gate, draining). */
  mayStart(channel: string, account: string): boolean;
  draining(): boolean;
  /**
   * Told when an intent was rescheduled for a later moment, so the executor can wake its worker
   * then: a deferred ticket raises no NOTIFY, and waiting for the next poll would add its interval.
   */
  wakeAt?(channel: string, at: Date): void;
  /** Groups attempts and receipts across the intents in flight; made on first use when absent. */
  writes?: BatchedWrites;
}

/** What happened to one ticket; counted in metrics and handy in tests. */
export type TicketOutcome =
  | 'not_claimed'
  | 'paused'
  | 'succeeded'
  | 'reconciled_done'
  | 'reconciled_not_done_executed'
  | 'in_doubt'
  | 'retry_scheduled'
  | 'dead'
  | 'rescheduled'
  | 'stale'
  /** Postgres trouble mid-pipeline: the lease expires and a takeover reconciles. */
  | 'error';

const writesOf = (deps: PipelineDeps): BatchedWrites => (deps.writes ??= createBatchedWrites(deps.db, deps.executorId));

/** A success as it may be stored: a safe external id and URL (see safeExternalId, safeReceiptUrl). */
function storable(intentId: string, result: { externalId: string; url?: string | null }, redact: Redactor, log: Logger): { externalId: string; url: string | null } {
  const externalId = safeExternalId(result.externalId, intentId, redact);
  const url = safeReceiptUrl(result.url, redact);
  if (externalId !== result.externalId || url !== (result.url ?? null)) log.warn({ idWithheld: externalId !== result.externalId, urlWithheld: url !== (result.url ?? null) }, 'provider answer withheld from the receipt (unsafe shape or a credential in it)');
  return { externalId, url };
}

/** Takes the leases of a batch of tickets in one statement; intents not eligible are left out. */
export async function claimTickets(deps: PipelineDeps, intentIds: string[]): Promise<{ policy: Policy; leases: ClaimedLease[] }> {
  const policy = deps.policy();
  const leases = await claimLeases(deps.db, {
    intentIds,
    owner: deps.executorId,
    ttlSeconds: policy.lease.ttlSeconds,
    heldKeys: deps.heldKeys,
  });
  return { policy, leases };
}

/** processLease, with Postgres trouble logged and reported as `error` instead of thrown. */
export async function runLease(deps: PipelineDeps, policy: Policy, lease: ClaimedLease): Promise<TicketOutcome> {
  try {
    return await processLease(deps, policy, lease);
  } catch (err) {
    deps.log.error({ err, intentId: lease.intent.id }, 'ticket failed; the lease will expire and be taken over');
    return 'error';
  }
}

/**
 * A batch of tickets: the leases are taken in one statement, then each claimed intent goes through
 * the pipeline on its own (its attempt and receipt writes are grouped with the others' in flight).
 */
export async function processTickets(deps: PipelineDeps, intentIds: string[]): Promise<Map<string, TicketOutcome>> {
  const { policy, leases } = await claimTickets(deps, intentIds);
  const outcomes = new Map<string, TicketOutcome>(intentIds.map((id) => [id, 'not_claimed']));
  await Promise.all(leases.map(async (lease) => outcomes.set(lease.intent.id, await runLease(deps, policy, lease))));
  return outcomes;
}

/** One ticket (see processTickets). */
export async function processTicket(deps: PipelineDeps, intentId: string): Promise<TicketOutcome> {
  return (await processTickets(deps, [intentId])).get(intentId) ?? 'not_claimed';
}

/**
 * lease -> (reconcile an abandoned attempt) -> breaker -> rate limit -> write-ahead attempt ->
 * connector -> receipt. Every write after the claim is conditional on the lease epoch.
 */
async function processLease(deps: PipelineDeps, policy: Policy, lease: ClaimedLease): Promise<TicketOutcome> {
  const { db, log } = deps;
  const intentId = lease.intent.id;
  const { intent, epoch } = lease;
  const fence = { intentId, epoch, executorId: deps.executorId, channel: intent.channel };
  const key = `${intent.channel}:${intent.account}`;
  const ilog = log.child({ intentId, key, epoch });

  // a gate may have closed between the ticket and the claim's snapshot, or we are shutting down
  if (!deps.mayStart(intent.channel, intent.account)) {
    await releaseLease(db, deps.boss, fence, { runAfter: null, reason: 'paused: gate closed or executor draining' });
    return 'paused';
  }

  const connector = deps.connectors.get(intent.channel);
  if (!connector) {
    // the coordinator validated the channel; an executor without it is misconfigured
    await appendFailureReceipt(db, fence, { to: 'die', attemptNo: null, errorClass: 'permanent', message: `no connector "${intent.channel}" on executor ${deps.executorId}`, source: 'execute', countFailure: false });
    return 'dead';
  }
  const parsed = connector.payloadSchema.safeParse(intent.payload);
  if (!parsed.success) {
    await appendFailureReceipt(db, fence, { to: 'die', attemptNo: null, errorClass: 'permanent', message: `payload no longer valid for ${intent.channel}: ${parsed.error.message}`, source: 'execute', countFailure: false });
    return 'dead';
  }
  // the rate bucket is the account's; the breaker may be narrower (one receiver of the account)
  const breaker = breakerKey(intent.channel, intent.account, connector.breakerTarget?.(parsed.data));

  const keeper = keepLease(db, { intentId, owner: deps.executorId, epoch, ttlSeconds: policy.lease.ttlSeconds, log: ilog });
  try {
    const connectorIntent: ConnectorIntent = {
      id: intent.id,
      channel: intent.channel,
      account: intent.account,
      idempotencyKey: intent.idempotency_key,
      payload: parsed.data,
      createdAt: new Date(intent.created_at),
      attemptNo: intent.attempt_count + 1,
    };
    const ctx: ConnectorContext = {
      signal: keeper.signal,
      log: ilog,
      credentials: deps.secrets[intent.channel]?.[intent.account],
      policy,
      redact: redactorOf(deps.secrets),
    };

    let reconciledNotDone = false;
    if (lease.openAttempt) {
      const verdict = await reconcileAbandoned(deps, connector, connectorIntent, ctx, lease, fence);
      if (verdict !== 'not_done') return verdict;
      reconciledNotDone = true;
    }

    const retryAt = deps.breakers.retryAt(breaker);
    if (retryAt) {
      await releaseLease(db, deps.boss, fence, { runAfter: retryAt, reason: `breaker open for ${breaker}` });
      deps.wakeAt?.(intent.channel, retryAt);
      return 'rescheduled';
    }
    if (deps.draining()) {
      await releaseLease(db, deps.boss, fence, { runAfter: null, reason: `executor ${deps.executorId} shutting down` });
      return 'paused';
    }

    const attempt = await writesOf(deps).recordAttempt({ intentId, epoch, rateKey: key });
    if (attempt && 'rateLimitedMs' in attempt) {
      // no token is not a failure: come back at our place in line, no attempt burned
      const at = new Date(Date.now() + attempt.rateLimitedMs);
      await releaseLease(db, deps.boss, fence, { runAfter: at, reason: `rate limited: no token for ${key}`, inLineForToken: true });
      deps.wakeAt?.(intent.channel, at);
      return 'rescheduled';
    }
    if (!attempt) {
      const released = await releaseLease(db, deps.boss, fence, { runAfter: null, reason: 'gate closed before the attempt' });
      return released ? 'paused' : 'stale';
    }
    connectorIntent.attemptNo = attempt.attemptNo;

    let result;
    try {
      result = await deps.breakers.fire(breaker, () => connector.execute(connectorIntent, ctx));
    } catch (err) {
      return await settleFailure(deps, fence, intent, breaker, attempt.attemptNo, err, ilog, redactorOf(deps.secrets));
    }
    const safe = storable(intentId, result, redactorOf(deps.secrets), ilog);
    const ok = await writesOf(deps).appendSuccessReceipt({ fence, attemptNo: attempt.attemptNo, ...safe });
    if (!ok) {
      ilog.warn({ externalId: safe.externalId }, 'stale lease holder: success receipt rejected (a newer epoch holds the intent)');
      return 'stale';
    }
    return reconciledNotDone ? 'reconciled_not_done_executed' : 'succeeded';
  } finally {
    keeper.stop();
  }
}

/** An earlier holder wrote an attempt and never closed it: ask the connector, never guess. */
async function reconcileAbandoned(
  deps: PipelineDeps,
  connector: Connector,
  intent: ConnectorIntent,
  ctx: ConnectorContext,
  lease: ClaimedLease,
  fence: { intentId: string; epoch: number; executorId: string; channel: string },
): Promise<TicketOutcome | 'not_done'> {
  const open = lease.openAttempt!;
  const rctx = { ...ctx, attemptStartedAt: new Date(open.started_at) };
  let verdict;
  if (!connector.reconcile) {
    verdict = { status: 'unknown' as const, reason: `connector ${connector.name} cannot reconcile` };
  } else {
    try {
      verdict = await connector.reconcile({ ...intent, attemptNo: open.attempt_no }, rctx);
    } catch (err) {
      verdict = { status: 'unknown' as const, reason: `reconcile failed: ${classifyError(err, redactorOf(deps.secrets)).message}` };
    }
  }
  deps.log.info({ intentId: fence.intentId, abandonedEpoch: open.lease_epoch, verdict: verdict.status }, 'reconciled an abandoned attempt');
  const redact = redactorOf(deps.secrets);
  if (verdict.status === 'done') {
    const ok = await appendSuccessReceipt(deps.db, fence, {
      attemptNo: open.attempt_no,
      ...storable(fence.intentId, verdict, redact, deps.log.child({ intentId: fence.intentId })),
      source: 'reconcile',
      outcome: 'reconciled_done',
    });
    return ok ? 'reconciled_done' : 'stale';
  }
  if (verdict.status === 'unknown') {
    const ok = await appendFailureReceipt(deps.db, fence, {
      to: 'doubt',
      attemptNo: open.attempt_no,
      errorClass: 'unknown',
      message: `attempt ${open.attempt_no} by ${open.executor_id} was cut off and its outcome is unknown: ${redact(verdict.reason)}`,
      source: 'reconcile',
      countFailure: false,
    });
    return ok ? 'in_doubt' : 'stale';
  }
  const closed = await closeAbandonedAttempt(deps.db, fence, open.lease_epoch, 'reconciled_not_done');
  return closed ? 'not_done' : 'stale';
}

async function settleFailure(
  deps: PipelineDeps,
  fence: { intentId: string; epoch: number; executorId: string; channel: string },
  intent: { failed_attempts: number; max_attempts: number; channel: string; account: string },
  breaker: string,
  attemptNo: number,
  err: unknown,
  log: Logger,
  redact: Redactor,
): Promise<TicketOutcome> {
  const { db, boss } = deps;
  const key = `${intent.channel}:${intent.account}`;
  if (isOpenCircuitError(err)) {
    // opossum refused before calling the connector: nothing happened
    const at = deps.breakers.retryAt(breaker) ?? new Date(Date.now() + 1000);
    const ok = await releaseLease(db, boss, fence, { runAfter: at, reason: `breaker open for ${breaker}`, attemptOutcome: 'breaker_open' });
    deps.wakeAt?.(fence.channel, at);
    return ok ? 'rescheduled' : 'stale';
  }
  const failure = classifyError(err, redact);
  log.warn({ errorClass: failure.errorClass, message: failure.message, attemptNo }, 'connector call failed');
  let ok: boolean;
  let outcome: TicketOutcome;
  switch (failure.errorClass) {
    case 'rate_limited': {
      const until = new Date(Date.now() + (failure.retryAfterMs ?? 1000));
      await drainUntil(db, key, until);
      ok = await releaseLease(db, boss, fence, { runAfter: until, reason: `provider rate limit for ${key}`, attemptOutcome: 'rate_limited' });
      deps.wakeAt?.(fence.channel, until);
      outcome = 'rescheduled';
      break;
    }
    case 'retryable': {
      const policy = deps.policy().retry;
      const failed = intent.failed_attempts + 1;
      if (failed >= intent.max_attempts) {
        ok = await appendFailureReceipt(db, fence, { to: 'die', attemptNo, errorClass: failure.errorClass, message: `attempts exhausted (${failed}/${intent.max_attempts}): ${failure.message}`, source: 'execute', countFailure: true });
        outcome = 'dead';
      } else {
        const runAfter = new Date(Date.now() + backoffMs(failed, policy.baseDelayMs, policy.maxDelayMs));
        ok = await scheduleRetry(db, boss, fence, { runAfter, errorClass: failure.errorClass, message: failure.message });
        deps.wakeAt?.(fence.channel, runAfter);
        outcome = 'retry_scheduled';
      }
      break;
    }
    case 'permanent':
      ok = await appendFailureReceipt(db, fence, { to: 'die', attemptNo, errorClass: failure.errorClass, message: failure.message, source: 'execute', countFailure: true });
      outcome = 'dead';
      break;
    default:
      ok = await appendFailureReceipt(db, fence, { to: 'doubt', attemptNo, errorClass: 'unknown', message: failure.message, source: 'execute', countFailure: true });
      outcome = 'in_doubt';
  }
  if (!ok) {
    log.warn({ outcome }, 'stale lease holder: failure write rejected (a newer epoch holds the intent)');
    return 'stale';
  }
  return outcome;
}
