import { z } from 'zod';
import { Role } from './tokens.ts';

/**
 * The console's own endpoints (/console/api/*; docs/console.md). Everything else the console shows
 * or changes goes through the /v1 API, with the session cookie in place of a bearer token.
 */

/** POST /console/api/session: sign in with a token, or with the code of a one-time sign-in link. */
export const ConsoleSignInBody = z.union([
  z.strictObject({ token: z.string().min(1).max(200) }),
  z.strictObject({ code: z.string().min(1).max(200) }),
]);
export type ConsoleSignInBody = z.infer<typeof ConsoleSignInBody>;

/** Who is signed in, and the CSRF token every state-changing request must send as `x-csrf-token`. */
export const ConsoleSession = z.object({
  role: Role,
  name: z.string().nullable(),
  actor: z.string(),
  csrfToken: z.string(),
  expiresAt: z.string(),
});
export type ConsoleSession = z.infer<typeof ConsoleSession>;

/** POST /console/api/signin-links: a link that signs its opener in once, as the caller's token. */
export const ConsoleSignInLink = z.object({ url: z.string(), expiresAt: z.string() });
export type ConsoleSignInLink = z.infer<typeof ConsoleSignInLink>;

/** A pending approval as the console shows it: the whole payload, and what it means per channel. */
export const ApprovalPreview = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('x'), text: z.string(), weightedLength: z.number(), maxLength: z.number() }),
  z.object({
    kind: z.literal('email'),
    from: z.string().nullable(),
    to: z.array(z.string()),
    cc: z.array(z.string()),
    bcc: z.array(z.string()),
    subject: z.string(),
    body: z.string(),
    bodyIsHtml: z.boolean(),
  }),
  z.object({
    kind: z.literal('calendar'),
    op: z.string(),
    summary: z.string().nullable(),
    /** Instants (UTC ISO); the browser shows them in the operator's zone. */
    start: z.string().nullable(),
    end: z.string().nullable(),
    timezone: z.string().nullable(),
    location: z.string().nullable(),
    attendees: z.array(z.string()),
  }),
  z.object({ kind: z.literal('webhook'), method: z.string(), url: z.string(), body: z.string().nullable() }),
  z.object({
    kind: z.literal('deploy'),
    target: z.string(),
    ref: z.string().nullable(),
    environment: z.string().nullable(),
    description: z.string().nullable(),
  }),
  z.object({ kind: z.literal('other') }),
]);
export type ApprovalPreview = z.infer<typeof ApprovalPreview>;

export const PendingApproval = z.object({
  id: z.string(),
  channel: z.string(),
  account: z.string(),
  idempotencyKey: z.string(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  preview: ApprovalPreview,
});
export type PendingApproval = z.infer<typeof PendingApproval>;

/** GET /console/api/pending: oldest first, at most MAX_PENDING_SHOWN; `total` counts them all. */
export const PendingApprovalList = z.object({ approvals: z.array(PendingApproval), total: z.number() });
export type PendingApprovalList = z.infer<typeof PendingApprovalList>;
