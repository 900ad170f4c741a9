import type { Attempt, Gate, Intent, IntentState, Receipt } from '@handoff/contracts';
import type { Selectable } from 'kysely';
import type { AttemptsTable, GatesTable, IntentsTable, ReceiptsTable } from '@handoff/db';

export type IntentRow = Selectable<IntentsTable>;

export const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
const isoRequired = (d: Date | string): string => new Date(d).toISOString();

export function toIntent(row: IntentRow): Intent {
  return {
    id: row.id,
    state: row.state as IntentState,
    channel: row.channel,
    account: row.account,
    idempotencyKey: row.idempotency_key,
    payload: row.payload,
    payloadHash: row.payload_hash,
    requiresApproval: row.requires_approval,
    createdBy: row.created_by,
    createdAt: isoRequired(row.created_at),
    updatedAt: isoRequired(row.updated_at),
    notBefore: iso(row.not_before),
    runAfter: iso(row.run_after),
    approvedBy: row.approved_by,
    approvedAt: iso(row.approved_at),
    approvalExpiresAt: iso(row.approval_expires_at),
    attemptCount: row.attempt_count,
    maxAttempts: row.max_attempts,
    leaseOwner: row.lease_owner,
    leaseEpoch: row.lease_epoch,
    leaseExpiresAt: iso(row.lease_expires_at),
    lastError: row.last_error,
    stateReason: row.state_reason,
  };
}

export function toAttempt(row: Selectable<AttemptsTable>): Attempt {
  return {
    id: String(row.id),
    intentId: row.intent_id,
    attemptNo: row.attempt_no,
    leaseEpoch: row.lease_epoch,
    executorId: row.executor_id,
    startedAt: isoRequired(row.started_at),
    finishedAt: iso(row.finished_at),
    outcome: row.outcome,
    errorClass: row.error_class,
    errorMessage: row.error_message,
  };
}

export function toReceipt(row: Selectable<ReceiptsTable>): Receipt {
  return {
    id: String(row.id),
    intentId: row.intent_id,
    attemptNo: row.attempt_no,
    leaseEpoch: row.lease_epoch,
    kind: row.kind,
    externalId: row.external_id,
    url: row.url,
    errorClass: row.error_class,
    errorMessage: row.error_message,
    executorId: row.executor_id,
    source: row.source,
    createdAt: isoRequired(row.created_at),
  };
}

export function toGate(row: Selectable<GatesTable>): Gate {
  return {
    scope: row.scope,
    state: row.enabled ? 'open' : 'closed',
    enabled: row.enabled,
    reason: row.reason,
    updatedBy: row.updated_by,
    updatedAt: isoRequired(row.updated_at),
  };
}
