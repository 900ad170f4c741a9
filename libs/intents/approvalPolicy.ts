import { NOTIFY_CHANNEL, type Policy } from '@handoff/contracts';

/**
 * Whether an intent needs a person. The most specific rule wins (channel:account, then channel);
 * without one, `draft_only` asks for every connector with an external effect, except `notify`: a
 * notification tells a person that something needs them, so waiting for that person first would
 * defeat it (an explicit rule may still ask). A caller's `requiresApproval: true` raises this, never
 * lowers it.
 */
export function needsApproval(
  policy: Policy,
  target: { channel: string; account: string; externalEffect: boolean; requested?: boolean },
): boolean {
  const rules = policy.approval.rules;
  const exact = rules.find((r) => r.channel === target.channel && r.account === target.account);
  const byChannel = rules.find((r) => r.channel === target.channel && r.account === undefined);
  const rule = exact ?? byChannel;
  const fromPolicy = rule
    ? rule.requireApproval
    : policy.approval.default === 'draft_only' && target.externalEffect && target.channel !== NOTIFY_CHANNEL;
  return fromPolicy || target.requested === true;
}
