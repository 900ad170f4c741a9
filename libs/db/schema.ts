import type { ColumnType, Generated } from 'kysely';
import type { AttemptOutcome } from '@handoff/contracts';

/** Hand-written table types for migrations/*.sql. Keep in step with every new migration. */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string | T, string | T>;

export interface IntentsTable {
  id: string;
  idempotency_key: string;
  channel: string;
  account: string;
  payload: Json<Record<string, unknown>>;
  payload_hash: string;
  state: string;
  requires_approval: boolean;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  not_before: NullableTimestamp;
  run_after: NullableTimestamp;
  approved_by: string | null;
  approved_at: NullableTimestamp;
  approved_payload_hash: string | null;
  approval_expires_at: NullableTimestamp;
  attempt_count: Generated<number>;
  failed_attempts: Generated<number>;
  max_attempts: number;
  lease_owner: string | null;
  lease_epoch: Generated<number>;
  lease_expires_at: NullableTimestamp;
  last_error: string | null;
  state_reason: string | null;
  swept_at: NullableTimestamp;
}

export interface AttemptsTable {
  id: Generated<string>;
  intent_id: string;
  attempt_no: number;
  lease_epoch: number;
  executor_id: string;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
  outcome: AttemptOutcome | null;
  error_class: string | null;
  error_message: string | null;
}

export interface ReceiptsTable {
  id: Generated<string>;
  intent_id: string;
  attempt_no: number | null;
  lease_epoch: number | null;
  kind: 'success' | 'failure';
  external_id: string | null;
  url: string | null;
  error_class: string | null;
  error_message: string | null;
  executor_id: string | null;
  source: 'execute' | 'reconcile' | 'operator';
  created_at: Timestamp;
}

export interface ApprovalsTable {
  id: Generated<string>;
  intent_id: string;
  decision: 'approve' | 'reject';
  actor: string;
  reason: string | null;
  payload_hash: string;
  expires_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface GatesTable {
  scope: string;
  enabled: boolean;
  reason: string | null;
  updated_by: string | null;
  updated_at: Timestamp;
}

export interface GateHistoryTable {
  id: Generated<string>;
  scope: string;
  enabled: boolean;
  reason: string | null;
  actor: string | null;
  created_at: Timestamp;
}

export interface RateBucketsTable {
  key: string;
  capacity: number;
  refill_per_second: number;
  tokens: number;
  refilled_at: Timestamp;
  blocked_until: NullableTimestamp;
  next_slot_at: NullableTimestamp;
}

export interface ExecutorsTable {
  id: string;
  host: string;
  pid: number;
  started_at: Timestamp;
  heartbeat_at: Timestamp;
  status: string;
  channels: Json<string[]>;
  breakers: Json<unknown[]>;
  local_gate_enabled: boolean;
  in_flight: number;
  // migration 006: what the executor runs, and its own clock (for skew)
  handoff_version: string | null;
  schema_version: number | null;
  policy_version: number | null;
  policy_sha256: string | null;
  reported_clock: NullableTimestamp;
}

/** migration 006: policy.json as the coordinator published it, one row per version. */
export interface FleetPolicyTable {
  version: number;
  sha256: string;
  policy: Json<unknown>;
  source: string;
  published_at: Timestamp;
}

export interface ApiTokensTable {
  id: string;
  name: string | null;
  role: 'operator' | 'agent' | 'viewer';
  token_hash: string;
  created_by: string | null;
  created_at: Timestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  /** migrations/009_token_expiry_audit.sql */
  expires_at: NullableTimestamp;
}

export interface AuditLogTable {
  id: Generated<string>;
  actor: string;
  action: string;
  target: string | null;
  details: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

export interface CommandApprovalsTable {
  id: Generated<string>;
  session_id: string;
  command: string;
  cwd: string;
  command_hash: string;
  state: Generated<'pending' | 'approved' | 'rejected' | 'expired'>;
  rule: string;
  reason: string;
  requested_at: Timestamp;
  expires_at: Timestamp;
  decided_at: NullableTimestamp;
  decided_by: string | null;
  decision_reason: string | null;
}

export interface AgentAuditTable {
  id: Generated<string>;
  ts: Timestamp;
  session_id: string;
  /** `<role>:<token id>` of the token that ran the session (migration 003); null on older rows. */
  actor: string | null;
  tool_call_id: string;
  tool_name: string;
  args: Json<unknown>;
  duration_ms: number;
  blocked: boolean;
  decision: string | null;
  exit_code: number | null;
}

export interface Database {
  intents: IntentsTable;
  attempts: AttemptsTable;
  receipts: ReceiptsTable;
  approvals: ApprovalsTable;
  gates: GatesTable;
  gate_history: GateHistoryTable;
  rate_buckets: RateBucketsTable;
  executors: ExecutorsTable;
  fleet_policy: FleetPolicyTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  command_approvals: CommandApprovalsTable;
  agent_audit: AgentAuditTable;
}
