import { z } from 'zod';
import { DurationText } from './duration.ts';

/**
 * GET /v1/audit: the audit log, newest first. Every operator decision is a row (approvals,
 * rejections, retries, resolves, gate changes with their reasons, tokens created and revoked,
 * command approvals); see docs/api.md for the actions.
 */

/** The most rows one page answers. */
export const MAX_AUDIT_PAGE = 500;

export const AuditQuery = z.strictObject({
  /** Only rows younger than this (`24h`, `7d`: DurationText). */
  since: z.string().pipe(DurationText).optional(),
  /** `<role>:<token id>` as recorded, or a token's name (ignoring case). */
  actor: z.string().min(1).max(300).optional(),
  /** An action (`gate.close`) or a family of them (`gate`, which takes every `gate.*`). */
  action: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)*$/, 'must be an action such as gate.close, or a family such as gate')
    .max(100)
    .optional(),
  /** What the row is about: an intent id, a gate scope, a token id. */
  target: z.string().min(1).max(300).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
  /** `nextCursor` of the page before. */
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, 'must be a nextCursor from an earlier answer')
    .optional(),
});
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditEntry = z.object({
  id: z.string(),
  at: z.string(),
  /** `<role>:<token id>`, or `handoff:…` for what handoff itself did (a migration, the sweeper). */
  actor: z.string(),
  /** The actor token's name when it has one: a label to read, never the identity. */
  actorName: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditList = z.object({ entries: z.array(AuditEntry), nextCursor: z.string().nullable() });
export type AuditList = z.infer<typeof AuditList>;
