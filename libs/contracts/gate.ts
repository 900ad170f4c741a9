import { z } from 'zod';
import { Intent, IntentDetail, isStorableText, UNSTORABLE_TEXT } from './intent.ts';

/** The scope of the gate that covers every intent. */
export const GLOBAL_SCOPE = 'global';

/**
 * The gate scopes that cover an intent of `channel` and `account`, widest first: a closed gate on
 * any of them pauses it. The one definition: the executor's gate listener calls it, and the SQL
 * that checks gates (libs/intents/sql/gates.ts) is written from it.
 */
export function scopesCovering(channel: string, account: string): string[] {
  return [GLOBAL_SCOPE, channel, `${channel}:${account}`];
}

/** `global`, a channel (`x`) or a `channel:account` pair (`x:@antifund`). */
export const GateScope = z
  .string()
  .max(200)
  .regex(/^(global|[a-z][a-z0-9_-]{0,31}(:[^\s:]+)?)$/, 'must be "global", a channel, or "channel:account"')
  .refine(isStorableText, UNSTORABLE_TEXT);
export type GateScope = z.infer<typeof GateScope>;

export const GateParams = z.strictObject({ scope: GateScope });

/**
 * A gate is `open` (intents under it may start) or `closed` (no new leases under it): the one pair
 * of words the CLI, the API and the console use. No gate row means open.
 */
export const GateState = z.enum(['open', 'closed']);
export type GateState = z.infer<typeof GateState>;

const GateReason = z.string().max(2000).refine(isStorableText, UNSTORABLE_TEXT);

/**
 * PUT /v1/gates/:scope. `state` is the word; `enabled` (true = open) is still read from clients
 * written before it, and exactly one of them is given. `force` sets a gate on a channel or account
 * nobody has heard of (a close is refused otherwise: a typo would close nothing). Read as the gate
 * to write: `{enabled, reason?, force?}`.
 */
export const SetGateBody = z
  .strictObject({
    state: GateState.optional(),
    enabled: z.boolean().optional(),
    reason: GateReason.optional(),
    force: z.boolean().optional(),
  })
  .refine((b) => (b.state === undefined) !== (b.enabled === undefined), {
    message: 'give "state": "open" or "closed"',
    path: ['state'],
  })
  .transform((b) => ({
    enabled: b.state === undefined ? b.enabled === true : b.state === 'open',
    ...(b.reason === undefined ? {} : { reason: b.reason }),
    ...(b.force === true ? { force: true } : {}),
  }));
/** The gate to write, as the coordinator reads the body. */
export type SetGateBody = z.output<typeof SetGateBody>;
/** What a client sends. */
export type SetGateRequest = z.input<typeof SetGateBody>;

/** DELETE /v1/gates/:scope?reason=: the reason is kept in the gate history and the audit log. */
export const RemoveGateQuery = z.strictObject({ reason: GateReason.optional() });

export const Gate = z.object({
  scope: z.string(),
  state: GateState,
  /** `state === 'open'`, for clients written before `state`. */
  enabled: z.boolean(),
  reason: z.string().nullable(),
  updatedBy: z.string().nullable(),
  updatedAt: z.string(),
});
export type Gate = z.infer<typeof Gate>;

/** DELETE /v1/gates/:scope: the scope has no gate row any more, so it is open. */
export const RemovedGate = z.object({ scope: z.string(), state: z.literal('open'), removed: z.boolean() });
export type RemovedGate = z.infer<typeof RemovedGate>;

/**
 * What keeps an intent that may run from starting: a closed gate covering it (scopesCovering), or
 * an open breaker of a live executor on its `channel:account` (possibly for one receiver,
 * `channel:account@host:port`). An approval is still recorded; the intent starts once these clear.
 */
export const Hold = z.object({
  kind: z.enum(['gate', 'breaker']),
  /** The gate's scope or the breaker's key. */
  scope: z.string(),
  reason: z.string().nullable(),
  since: z.string().nullable(),
  /** For a breaker: the executor whose breaker it is. */
  executorId: z.string().nullable(),
});
export type Hold = z.infer<typeof Hold>;

/** POST /v1/intents/:id/approve: the intent, and what holds it back if anything does. */
export const HeldIntent = Intent.extend({ heldBy: z.array(Hold).default([]) });
export type HeldIntent = z.infer<typeof HeldIntent>;

/** GET /v1/intents/:id: the intent in full, and what holds it back if anything does. */
export const HeldIntentDetail = IntentDetail.extend({ heldBy: z.array(Hold).default([]) });
export type HeldIntentDetail = z.infer<typeof HeldIntentDetail>;

/** GET /v1/gates. */
export const GateList = z.object({ gates: z.array(Gate) });
export type GateList = z.infer<typeof GateList>;

/** `$HANDOFF_HOME/executor_gate.json`, the executor's local kill switch. */
export const LocalGateFile = z.strictObject({
  enabled: z.boolean(),
  reason: z.string().optional(),
});
export type LocalGateFile = z.infer<typeof LocalGateFile>;
