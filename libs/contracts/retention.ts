import { z } from 'zod';

/**
 * `policy.json` `retention`: how long housekeeping keeps rows that are logs, not the record.
 * Intents, attempts and receipts are the record and are never deleted by age: only
 * `handoff archive --before DATE --to FILE` removes finished intents, after writing them out.
 */
const Days = (fallback: number) =>
  z
    .number()
    .min(0.01, 'must be at least 0.01 days (about 15 minutes)')
    .max(100 * 365)
    .default(fallback);

export const RetentionPolicy = z.strictObject({
  /** audit_log rows (operators' decisions, gates, tokens) older than this are deleted. */
  auditDays: Days(90),
  /** The agent's audit rows: command approvals and sessions that ended (decision 134). */
  agentAuditDays: Days(90),
  /** router_usage rows (the model router's per-call accounting). */
  routerUsageDays: Days(30),
  /** pg-boss keeps a finished ticket this long: each ticket queue's deleteAfterSeconds (decision 135). */
  pgbossArchiveDays: Days(7),
});
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;
