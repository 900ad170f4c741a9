export type { IntentService } from './api.ts';
export { createIntentService, GATES_CHANNEL, type ConnectorCatalog, type IntentServiceDeps } from './service.ts';
export { needsApproval } from './approvalPolicy.ts';
export { payloadHash, canonicalJson } from './payloadHash.ts';
export {
  transitions,
  transition,
  fromStates,
  initialState,
  AWAITING_APPROVAL,
  LEASED,
  RUNNABLE_STATES,
  LEASABLE_STATES,
  QUEUED_STATES,
  NEEDS_PERSON_STATES,
  type TransitionName,
} from './stateMachine.ts';
export { ticketQueue, ensureTicketQueue, sendTicket, sendTickets, startBoss, bossDb } from './tickets.ts';
export { buildLiveReport, HEARTBEAT_STALE_SECONDS, executorAlive } from './live.ts';
export { claimLease, claimLeases, type ClaimedLease, type OpenAttempt } from './sql/claim.ts';
export { renewLease } from './sql/renew.ts';
export { recordAttempt, recordAttempts, closeAbandonedAttempt, type AttemptRequest, type RecordedAttempt, type RateLimited } from './sql/recordAttempt.ts';
export { appendSuccessReceipt, appendSuccessReceipts, appendFailureReceipt, type Fence, type SuccessReceipt } from './sql/appendReceipt.ts';
export { scheduleRetry, releaseLease } from './sql/reschedule.ts';
export { sweep, reticketCovered, type SweepOptions, type SweepResult } from './sql/sweep.ts';
export { noClosedGateCovers } from './sql/gateFilter.ts';
export { toIntent, toAttempt, toReceipt, type IntentRow } from './sql/rows.ts';
