import type { Logger } from 'pino';
import { safeExternalId, safeReceiptUrl, type Policy, type Redactor } from '@handoff/contracts';
import { classifyError, type Connector, type ConnectorContext, type ConnectorIntent } from '@handoff/connectors';
import { backoffMs } from './backoff.ts';
import { breakerKey, isOpenCircuitError } from './breakers.ts';
import { keepLease } from './leaseKeeper.ts';
import type { PipelineDeps, TicketOutcome } from './pipeline.ts';
import type { ClaimedLease, Fence } from './store.ts';

/** A success as it may be stored: a safe external id and URL (see safeExternalId, safeReceiptUrl). */
function storable(
  intentId: string,
  result: { externalId: string; url?: string | null },
  redact: Redactor,
  log: Logger,
): { externalId: string; url: string | null } {
  const externalId = safeExternalId(result.externalId, intentId, redact);
  const url = safeReceiptUrl(result.url, redact);
  if (externalId !== result.externalId || url !== (result.url ?? null))
    log.warn(
      { idWithheld: externalId !== result.externalId, urlWithheld: url !== (result.url ?? null) },
      'provider answer withheld from the receipt (unsafe shape or a credential in it)',
    );
  return { externalId, url };
}

/**
 * One leased intent through the pipeline (processLease), with Postgres trouble logged and reported
 * as `error` instead of thrown: the lease then expires and a takeover reconciles.
 */
export async function runLease(deps: PipelineDeps, policy: Policy, lease: ClaimedLease): Promise<TicketOutcome> {
  try {
    const outcome = await processLease(deps, policy, lease);
    deps.log.debug({ intentId: lease.intent.id, outcome }, 'ticket processed');
    return outcome;
  } catch (err) {
    deps.log.error({ err, intentId: lease.intent.id }, 'ticket failed; the lease will expire and be taken over');
    return 'error';
  }
}

/**
 * lease -> (reconcile an abandoned attempt) -> breaker -> rate limit -> write-ahead attempt ->
 * connector -> receipt. Every write after the claim is conditional on the lease epoch.
 */
async function processLease(deps: PipelineDeps, policy: Policy, lease: ClaimedLease): Promise<TicketOutcome> {
  const { store, log } = deps;
  const intentId = lease.intent.id;
  const { intent, epoch } = lease;
  const fence: Fence = { intentId, epoch, channel: intent.channel };
  const key = `${intent.channel}:${intent.account}`;
  const ilog = log.child({ intentId, key, epoch });

  // a gate may have closed between the ticket and the claim's snapshot, or we are shutting down
  if (!deps.mayStart(intent.channel, intent.account)) {
    await store.releaseLease(fence, { runAfter: null, reason: 'paused: gate closed or executor draining' });
    return 'paused';
  }

  const connector = deps.connectors.get(intent.channel);
  if (!connector) {
    // the coordinator validated the channel; an executor without it is misconfigured
    await store.appendFailureReceipt(fence, {
      to: 'die',
      attemptNo: null,
      errorClass: 'permanent',
      message: `no connector "${intent.channel}" on executor ${store.executorId}`,
      source: 'execute',
      countFailure: false,
    });
    return 'dead';
  }
  const parsed = connector.payloadSchema.safeParse(intent.payload);
  if (!parsed.success) {
    await store.appendFailureReceipt(fence, {
      to: 'die',
      attemptNo: null,
      errorClass: 'permanent',
      message: `payload no longer valid for ${intent.channel}: ${parsed.error.message}`,
      source: 'execute',
      countFailure: false,
    });
    return 'dead';
  }
  // the rate bucket is the account's; the breaker may be narrower (one receiver of the account)
  const breaker = breakerKey(intent.channel, intent.account, connector.breakerTarget?.(parsed.data));

  const keeper = keepLease(store, { intentId, epoch, ttlSeconds: policy.lease.ttlSeconds, log: ilog });
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
      redact: deps.redact,
    };

    let reconciledNotDone = false;
    if (lease.openAttempt) {
      const verdict = await reconcileAbandoned(deps, connector, connectorIntent, ctx, lease, fence);
      if (verdict !== 'not_done') return verdict;
      reconciledNotDone = true;
    }

    const retryAt = deps.breakers.retryAt(breaker);
    if (retryAt) {
      await store.releaseLease(fence, { runAfter: retryAt, reason: `breaker open for ${breaker}` });
      deps.wakeAt(intent.channel, retryAt);
      return 'rescheduled';
    }
    if (deps.draining()) {
      await store.releaseLease(fence, { runAfter: null, reason: `executor ${store.executorId} shutting down` });
      return 'paused';
    }

    const attempt = await store.recordAttempt({ intentId, epoch, rateKey: key });
    if (attempt && 'rateLimitedMs' in attempt) {
      // no token is not a failure: come back at our place in line, no attempt burned
      const at = new Date(Date.now() + attempt.rateLimitedMs);
      await store.releaseLease(fence, {
        runAfter: at,
        reason: `rate limited: no token for ${key}`,
        inLineForToken: true,
      });
      deps.wakeAt(intent.channel, at);
      return 'rescheduled';
    }
    if (!attempt) {
      const released = await store.releaseLease(fence, { runAfter: null, reason: 'gate closed before the attempt' });
      return released ? 'paused' : 'stale';
    }
    connectorIntent.attemptNo = attempt.attemptNo;

    let result;
    try {
      result = await deps.breakers.fire(breaker, () => connector.execute(connectorIntent, ctx));
    } catch (err) {
      return await settleFailure(deps, fence, intent, breaker, attempt.attemptNo, err, ilog);
    }
    const safe = storable(intentId, result, deps.redact, ilog);
    const ok = await store.appendSuccessReceipt({ fence, attemptNo: attempt.attemptNo, ...safe });
    if (!ok) {
      ilog.warn(
        { externalId: safe.externalId },
        'stale lease holder: success receipt rejected (a newer epoch holds the intent)',
      );
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
  fence: Fence,
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
      verdict = { status: 'unknown' as const, reason: `reconcile failed: ${classifyError(err, deps.redact).message}` };
    }
  }
  deps.log.info(
    { intentId: fence.intentId, abandonedEpoch: open.lease_epoch, verdict: verdict.status },
    'reconciled an abandoned attempt',
  );
  const { store, redact } = deps;
  if (verdict.status === 'done') {
    const ok = await store.appendReconciledReceipt(fence, {
      attemptNo: open.attempt_no,
      ...storable(fence.intentId, verdict, redact, deps.log.child({ intentId: fence.intentId })),
    });
    return ok ? 'reconciled_done' : 'stale';
  }
  if (verdict.status === 'unknown') {
    const ok = await store.appendFailureReceipt(fence, {
      to: 'doubt',
      attemptNo: open.attempt_no,
      errorClass: 'unknown',
      message: `attempt ${open.attempt_no} by ${open.executor_id} was cut off and its outcome is unknown: ${redact(verdict.reason)}`,
      source: 'reconcile',
      countFailure: false,
    });
    return ok ? 'in_doubt' : 'stale';
  }
  const closed = await store.closeAbandonedAttempt(fence, open.lease_epoch);
  return closed ? 'not_done' : 'stale';
}

async function settleFailure(
  deps: PipelineDeps,
  fence: Fence,
  intent: { failed_attempts: number; max_attempts: number; channel: string; account: string },
  breaker: string,
  attemptNo: number,
  err: unknown,
  log: Logger,
): Promise<TicketOutcome> {
  const { store } = deps;
  const key = `${intent.channel}:${intent.account}`;
  if (isOpenCircuitError(err)) {
    // opossum refused before calling the connector: nothing happened
    const at = deps.breakers.retryAt(breaker) ?? new Date(Date.now() + 1000);
    const ok = await store.releaseLease(fence, {
      runAfter: at,
      reason: `breaker open for ${breaker}`,
      attemptOutcome: 'breaker_open',
    });
    deps.wakeAt(fence.channel, at);
    return ok ? 'rescheduled' : 'stale';
  }
  const failure = classifyError(err, deps.redact);
  log.warn({ errorClass: failure.errorClass, message: failure.message, attemptNo }, 'connector call failed');
  let ok: boolean;
  let outcome: TicketOutcome;
  switch (failure.errorClass) {
    case 'rate_limited': {
      const until = new Date(Date.now() + (failure.retryAfterMs ?? 1000));
      await store.drainBucket(key, until);
      ok = await store.releaseLease(fence, {
        runAfter: until,
        reason: `provider rate limit for ${key}`,
        attemptOutcome: 'rate_limited',
      });
      deps.wakeAt(fence.channel, until);
      outcome = 'rescheduled';
      break;
    }
    case 'retryable': {
      const policy = deps.policy().retry;
      const failed = intent.failed_attempts + 1;
      if (failed >= intent.max_attempts) {
        ok = await store.appendFailureReceipt(fence, {
          to: 'die',
          attemptNo,
          errorClass: failure.errorClass,
          message: `attempts exhausted (${failed}/${intent.max_attempts}): ${failure.message}`,
          source: 'execute',
          countFailure: true,
        });
        outcome = 'dead';
      } else {
        const runAfter = new Date(Date.now() + backoffMs(failed, policy.baseDelayMs, policy.maxDelayMs));
        ok = await store.scheduleRetry(fence, { runAfter, errorClass: failure.errorClass, message: failure.message });
        deps.wakeAt(fence.channel, runAfter);
        outcome = 'retry_scheduled';
      }
      break;
    }
    case 'permanent':
      ok = await store.appendFailureReceipt(fence, {
        to: 'die',
        attemptNo,
        errorClass: failure.errorClass,
        message: failure.message,
        source: 'execute',
        countFailure: true,
      });
      outcome = 'dead';
      break;
    default:
      ok = await store.appendFailureReceipt(fence, {
        to: 'doubt',
        attemptNo,
        errorClass: 'unknown',
        message: failure.message,
        source: 'execute',
        countFailure: true,
      });
      outcome = 'in_doubt';
  }
  if (!ok) {
    log.warn({ outcome }, 'stale lease holder: failure write rejected (a newer epoch holds the intent)');
    return 'stale';
  }
  return outcome;
}
