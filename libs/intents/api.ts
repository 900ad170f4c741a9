import type {
  CreateIntentBody,
  Gate,
  Intent,
  IntentDetail,
  IntentList,
  ListIntentsQuery,
  LiveReport,
  SetGateBody,
} from '@handoff/contracts';

/**
 * The intent store's public surface, used by the coordinator's HTTP routes and by the agent.
 * Every method refuses a caller's mistake with an IntentError (errors.ts), by code: not_found,
 * invalid_state, idempotency_conflict, unknown_channel, validation_failed.
 */
export interface IntentService {
  /** Idempotent: `created` is false when the key already existed with the same payload hash. */
  create(body: CreateIntentBody, actor: string): Promise<{ intent: Intent; created: boolean }>;
  /** A page, newest first, without payloads (an excerpt instead), capped in rows and bytes. */
  list(query: ListIntentsQuery): Promise<IntentList>;
  get(id: string): Promise<IntentDetail | null>;
  approve(id: string, actor: string, reason?: string): Promise<Intent>;
  reject(id: string, actor: string, reason: string): Promise<Intent>;
  /** dead or in_doubt -> approved, with a fresh attempt budget. */
  retry(id: string, actor: string, reason?: string): Promise<Intent>;
  /** in_doubt -> succeeded, with an operator receipt. */
  resolve(id: string, actor: string, body: { externalId: string; url?: string; reason?: string }): Promise<Intent>;
  listGates(): Promise<Gate[]>;
  /** Writes the gate and its history, NOTIFYs executors, and re-issues tickets when a gate opens. */
  setGate(scope: string, body: SetGateBody, actor: string): Promise<Gate>;
  live(): Promise<LiveReport>;
  audit(entry: { actor: string; action: string; target?: string; details?: Record<string, unknown> }): Promise<void>;
}
