export type { IntentService } from './api.ts';
export { createIntentService, type IntentServiceDeps } from './service.ts';
export {
  IntentError,
  IntentNotFound,
  InvalidTransition,
  IdempotencyConflict,
  UnknownChannel,
  InvalidIntent,
} from './errors.ts';
export { newIntent, MAX_INTENT_PAYLOAD_BYTES, type ConnectorCatalog } from './newIntent.ts';
export { createIntentBatcher, type NewIntent, type CreateOutcome } from './sql/createIntents.ts';
export { needsApproval } from './approvalPolicy.ts';
export { payloadHash, canonicalJson } from './payloadHash.ts';
export { transitions, fromStates, QUEUED_STATES, NEEDS_PERSON_STATES, FINISHED_STATES } from './stateMachine.ts';
export { readArchiveBatch, removeArchived } from './sql/archive.ts';
export { ticketQueue, ensureTicketQueue, sendTicket, sendTickets, startBoss } from './tickets.ts';
export { buildLiveReport, HEARTBEAT_STALE_SECONDS, executorAlive } from './live.ts';
// the executor's statements, one file per family
export { claimLease, claimLeases, type ClaimedLease, type OpenAttempt } from './sql/claim.ts';
export { renewLease } from './sql/renew.ts';
export {
  recordAttempt,
  recordAttempts,
  closeAbandonedAttempt,
  type AttemptRequest,
  type RecordedAttempt,
  type RateLimited,
} from './sql/attempt.ts';
export {
  appendSuccessReceipt,
  appendSuccessReceipts,
  appendFailureReceipt,
  type Fence,
  type SuccessReceipt,
} from './sql/receipt.ts';
export { scheduleRetry } from './sql/retry.ts';
export { releaseLease } from './sql/release.ts';
export { sweep, type SweepOptions, type SweepResult } from './sql/sweep.ts';
export { GATES_CHANNEL, noClosedGateCovers, reticketCovered, deleteOpenGate } from './sql/gates.ts';
// the operator's reads: the audit log, and what holds an intent back
export { listAudit } from './sql/audit.ts';
export { holdsOn, accountKnown } from './sql/holds.ts';
export { toIntent, toAttempt, toReceipt, type IntentRow } from './sql/rows.ts';
// the fleet's policy: published by the coordinator, followed by every executor
export {
  POLICY_CHANNEL,
  policySha256,
  policySource,
  publishPolicy,
  readPublishedPolicy,
  type PublishedPolicy,
} from './sql/policy.ts';
