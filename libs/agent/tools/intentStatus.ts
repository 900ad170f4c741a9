import { z } from 'zod';
import { defineTool } from './tool.ts';

export const intentStatusTool = defineTool({
  name: 'intent_status',
  description:
    'Read the state of an intent you proposed (only your own), with its receipts (the outcome of the side effect).',
  args: z.strictObject({ intent_id: z.uuid() }),
  async run(args, ctx) {
    const intent = await ctx.intents.get(args.intent_id);
    // Only intents this run's token created (every intent its sessions proposed is one): another
    // agent's intent reads exactly like a missing one, so the model learns nothing about it.
    if (!intent || intent.createdBy !== ctx.actor) return { ok: false, output: `no intent ${args.intent_id} of yours` };
    return {
      ok: true,
      output: JSON.stringify({
        id: intent.id,
        state: intent.state,
        stateReason: intent.stateReason,
        channel: intent.channel,
        account: intent.account,
        attempts: intent.attemptCount,
        lastError: intent.lastError,
        receipts: intent.receipts.map((r) => ({
          kind: r.kind,
          externalId: r.externalId,
          url: r.url,
          error: r.errorMessage,
          at: r.createdAt,
        })),
      }),
    };
  },
});
