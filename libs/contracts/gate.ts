import { z } from 'zod';
import { isStorableText, UNSTORABLE_TEXT } from './intent.ts';

/** The scope of the gate that covers every intent. */
export const GLOBAL_SCOPE = 'global';

/**
 * The gate scopes that cover an intent of `channel` and `account`, widest first: a closed gate on
 * any of them pauses it. The one definition: the executor's gate listener calls it, and the SQL
 * that checks gates (libs/intents/sql/gateFilter.ts) is written from it.
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

export const SetGateBody = z.strictObject({
  enabled: z.boolean(),
  reason: z.string().max(2000).refine(isStorableText, UNSTORABLE_TEXT).optional(),
});
export type SetGateBody = z.infer<typeof SetGateBody>;

export const Gate = z.object({
  scope: z.string(),
  enabled: z.boolean(),
  reason: z.string().nullable(),
  updatedBy: z.string().nullable(),
  updatedAt: z.string(),
});
export type Gate = z.infer<typeof Gate>;

/** GET /v1/gates. */
export const GateList = z.object({ gates: z.array(Gate) });
export type GateList = z.infer<typeof GateList>;

/** `$HANDOFF_HOME/executor_gate.json`, the executor's local kill switch. */
export const LocalGateFile = z.strictObject({
  enabled: z.boolean(),
  reason: z.string().optional(),
});
export type LocalGateFile = z.infer<typeof LocalGateFile>;
