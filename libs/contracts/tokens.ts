import { z } from 'zod';
import { DurationText } from './duration.ts';
import { isStorableText, UNSTORABLE_TEXT } from './intent.ts';

export const Role = z.enum(['operator', 'agent', 'viewer']);
export type Role = z.infer<typeof Role>;

/**
 * A token's name is a label for people (unique, ignoring case: migrations/003_token_names.sql); it
 * is never an identity. Whoever holds a token chooses nothing about what the audit records.
 */
export const TokenName = z.string().min(1).max(200).refine(isStorableText, UNSTORABLE_TEXT);

export const CreateTokenBody = z.strictObject({
  role: Role,
  name: TokenName.optional(),
  /** How long the token works, e.g. `30d` (DurationText); without it the token works until revoked. */
  expiresIn: z.string().pipe(DurationText).optional(),
});
/** What a client sends (`expiresIn` as text, `30d`). */
export type CreateTokenBody = z.input<typeof CreateTokenBody>;

export const CreatedToken = z.object({
  id: z.string(),
  role: Role,
  name: z.string().nullable(),
  token: z.string(),
  createdAt: z.string(),
  /** When the token stops working (null: never, until revoked). */
  expiresAt: z.string().nullable(),
});
export type CreatedToken = z.infer<typeof CreatedToken>;

export const TokenState = z.enum(['live', 'expired', 'revoked']);
export type TokenState = z.infer<typeof TokenState>;

/** `POST /v1/tokens/:id/revoke`. */
export const TokenIdParams = z.strictObject({ id: z.uuid() });

/** What GET /v1/tokens shows of a token: never its secret or hash. */
export const TokenInfo = z.object({
  id: z.string(),
  role: Role,
  name: z.string().nullable(),
  /** How audit rows, intents and approvals name this token (actorOf). */
  actor: z.string(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  /** Recorded at most once a minute per token (decision 98). */
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  /** `live`, or why it no longer works: `expired` or `revoked` (a revoked token counts as revoked). */
  state: TokenState,
});
export type TokenInfo = z.infer<typeof TokenInfo>;

/** The most tokens GET /v1/tokens answers with, newest first. */
export const MAX_LISTED_TOKENS = 1000;
export const TokenList = z.object({ tokens: z.array(TokenInfo), truncated: z.boolean() });
export type TokenList = z.infer<typeof TokenList>;

/** The caller behind a live token: its id and role are who it is; its name is only shown. */
export interface Caller {
  tokenId: string;
  role: Role;
  name: string | null;
}

/**
 * What audit rows, intents (createdBy, approvedBy), intent approvals, command approvals and gates
 * record as the actor: `<role>:<token id>`, e.g. `agent:3f1c…`. Built from what the database says
 * about the token, so an agent token named "operator" is still recorded as `agent:<its id>`.
 */
export function actorOf(caller: Pick<Caller, 'tokenId' | 'role'>): string {
  return `${caller.role}:${caller.tokenId}`;
}
