import { z } from 'zod';
import {
  AccountName,
  ChannelName,
  CreateIntentBody,
  describeZodIssues,
  formatIssues,
  NOTIFY_CHANNEL,
} from '@handoff/contracts';
import { IntentError } from '@handoff/intents';
import { defineTool } from './tool.ts';

/** The idempotency key of the intent a tool call proposes: the same call replayed proposes nothing new. */
export function agentIdempotencyKey(sessionId: string, toolCallId: string): string {
  return `agent:${sessionId}:${toolCallId}`.slice(0, 255);
}

export const proposeIntentTool = defineTool({
  name: 'propose_intent',
  description:
    'Propose a side effect in the outside world (post, email, calendar event, webhook, deployment). You cannot act outside the sandbox yourself: ' +
    'an intent is written, usually waits for a person to approve it, and an executor performs it later. The answer gives the intent id and state.',
  args: z.strictObject({
    channel: ChannelName.describe('connector: noop, webhook, x, email, calendar or deploy'),
    account: AccountName.optional().describe('credential set on the executor; default "default"'),
    payload: z
      .record(z.string(), z.unknown())
      .describe("the connector's payload, e.g. for webhook {url, method?, headers?, body}"),
    requires_approval: z.boolean().optional().describe('ask for approval even when the policy would not'),
    not_before: z.iso.datetime({ offset: true }).optional(),
  }),
  async run(args, ctx) {
    // Whoever started the run, the model is an agent: it may not write to an operator's phone (the
    // API refuses agent tokens the same).
    if (args.channel === NOTIFY_CHANNEL)
      return {
        ok: false,
        output: `the intent was refused (forbidden): the ${NOTIFY_CHANNEL} channel is written by the coordinator's notifier only`,
      };
    // The body POST /v1/intents takes, checked by the same contract (NUL, surrogates, depth); the
    // service then checks size and the channel's payload schema for both paths alike.
    const body = CreateIntentBody.safeParse({
      channel: args.channel,
      account: args.account ?? 'default',
      payload: args.payload,
      idempotencyKey: agentIdempotencyKey(ctx.sessionId, ctx.toolCallId),
      ...(args.requires_approval === undefined ? {} : { requiresApproval: args.requires_approval }),
      ...(args.not_before === undefined ? {} : { notBefore: args.not_before }),
    });
    if (!body.success)
      return {
        ok: false,
        output: `the intent was refused (validation_failed): ${formatIssues(describeZodIssues(body.error))}`,
      };
    let result;
    try {
      result = await ctx.intents.create(body.data, ctx.actor);
    } catch (err) {
      if (err instanceof IntentError)
        return { ok: false, output: `the intent was refused (${err.code}): ${err.message}` };
      throw err;
    }
    const { intent, created } = result;
    ctx.emit({
      type: 'intent_proposed',
      toolCallId: ctx.toolCallId,
      intentId: intent.id,
      state: intent.state,
      channel: intent.channel,
      account: intent.account,
      created,
    });
    const next =
      intent.state === 'pending_approval'
        ? 'It waits for a person to approve it; check it later with intent_status.'
        : 'An executor will perform it.';
    return {
      ok: true,
      output: `${created ? 'proposed' : 'already proposed (same call replayed)'} intent ${intent.id} on ${intent.channel}:${intent.account}, state ${intent.state}. ${next}`,
    };
  },
});
