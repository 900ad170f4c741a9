import type { Logger } from 'pino';
import type { Policy, Redactor } from '@handoff/contracts';
import type { ConnectorRegistry } from '@handoff/connectors';
import { BreakerRegistry } from './breakers.ts';
import { runLease } from './runLease.ts';
import { redactorOf, type Secrets } from './secrets.ts';
import type { ExecutorStore } from './store.ts';

/** What happened to one ticket: runTicketBatch's answer, and the executor's debug log. */
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

/** What the executor (executor.ts) or a test decides; createPipelineDeps builds the rest. */
export interface PipelineOptions {
  store: ExecutorStore;
  connectors: ConnectorRegistry;
  policy: () => Policy;
  secrets: Secrets;
  log: Logger;
  /** The `channel:account` keys this executor may lease (secrets.ts heldKeys). */
  heldKeys: string[];
  /** False once this executor must not start new work (local gate, NOTIFYed gate, draining). */
  mayStart(channel: string, account: string): boolean;
  draining(): boolean;
  /**
   * Told when an intent was rescheduled for a later moment, so the executor can wake its worker
   * then: a deferred ticket raises no NOTIFY, and waiting for the next poll would add its interval.
   */
  wakeAt(channel: string, at: Date): void;
}

export interface PipelineDeps extends PipelineOptions {
  /** One opossum breaker per receiver (breakers.ts), for this executor's lifetime. */
  breakers: BreakerRegistry;
  /** Every credential of `secrets` (and those learnt later), for receipts, errors and the log. */
  redact: Redactor;
}

/** The one way to make pipeline deps, in production and in tests alike. */
export function createPipelineDeps(opts: PipelineOptions): PipelineDeps {
  return {
    ...opts,
    breakers: new BreakerRegistry(() => opts.policy().breaker),
    redact: redactorOf(opts.secrets),
  };
}

export interface TicketBatch {
  /** Each leased intent's run through the pipeline (runLease.ts), settling with its outcome; never rejects. */
  runs: Map<string, Promise<TicketOutcome>>;
  /** Every ticket's outcome (`not_claimed` for those not leased here), once every run has settled. */
  settled: Promise<Map<string, TicketOutcome>>;
}

/**
 * A batch of tickets: the leases are taken in one statement, then each claimed intent goes through
 * the pipeline on its own (its attempt and receipt writes are grouped with the others' in flight).
 * Resolves once the leases are taken, so the executor's worker can fetch more tickets while the
 * effects run; throws (leasing nothing) when the claim fails.
 */
export async function runTicketBatch(deps: PipelineDeps, intentIds: string[]): Promise<TicketBatch> {
  const policy = deps.policy();
  const leases = await deps.store.claimLeases(intentIds, {
    ttlSeconds: policy.lease.ttlSeconds,
    heldKeys: deps.heldKeys,
  });
  const runs = new Map(leases.map((lease) => [lease.intent.id, runLease(deps, policy, lease)]));
  const settled = (async () => {
    const outcomes = new Map<string, TicketOutcome>(intentIds.map((id) => [id, 'not_claimed']));
    for (const [id, run] of runs) outcomes.set(id, await run);
    return outcomes;
  })();
  return { runs, settled };
}

/** One ticket: runTicketBatch's batch of one, awaited to its outcome. */
export async function processTicket(deps: PipelineDeps, intentId: string): Promise<TicketOutcome> {
  const { settled } = await runTicketBatch(deps, [intentId]);
  return (await settled).get(intentId) ?? 'not_claimed';
}
