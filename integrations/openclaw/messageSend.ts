import { createHash } from 'node:crypto';
import { callApi, type HandoffBackend } from '@handoff/mcp';

/**
 * The optional `before_tool_call` policy: OpenClaw's own `message` tool with action=send becomes a
 * handoff intent, and the send itself is blocked. handoff then performs it once, after a person
 * approves it where policy asks. The idempotency key is derived from the conversation and the
 * message, so the same send replayed after a restart or a timeout finds the intent it already made
 * instead of posting twice.
 */

export interface MessageSendConfig {
  enabled: boolean;
  /** The handoff channel that performs the send. */
  channel: 'webhook' | 'x';
  account?: string;
  /** For channel webhook: the receiver of {channel, target, targets, accountId, message, media}. */
  webhookUrl?: string;
  requiresApproval?: boolean;
}

/** What the hook reads of a `message` tool call (OpenClaw's message tool parameters). */
export interface MessageToolCall {
  params: Record<string, unknown>;
  /** The conversation: OpenClaw's session key (or id). */
  session?: string;
}

export type HookDecision = { block: true; blockReason: string } | undefined;

function sendPayload(config: MessageSendConfig, params: Record<string, unknown>): Record<string, unknown> {
  if (config.channel === 'x') return { text: String(params.message ?? '') };
  if (!config.webhookUrl) throw new Error('interceptMessageSend.webhookUrl is required for channel webhook');
  const body: Record<string, unknown> = {};
  for (const field of ['channel', 'target', 'targets', 'accountId', 'message', 'media', 'caption']) {
    if (params[field] !== undefined) body[field] = params[field];
  }
  return { url: config.webhookUrl, body };
}

/** The same send in the same conversation always gets the same key. */
export function sendIdempotencyKey(call: MessageToolCall, payload: Record<string, unknown>): string {
  const digest = createHash('sha256')
    .update(JSON.stringify({ session: call.session ?? null, payload }))
    .digest('hex');
  return `openclaw-send:${digest}`;
}

/** The hook's decision for one tool call: undefined lets it through, else it is blocked with a reason the model reads. */
export async function interceptMessageSend(
  backend: HandoffBackend,
  config: MessageSendConfig,
  call: MessageToolCall,
): Promise<HookDecision> {
  if (!config.enabled || call.params.action !== 'send') return undefined;
  if (call.params.dryRun === true) return undefined;
  const payload = sendPayload(config, call.params);
  const idempotencyKey = sendIdempotencyKey(call, payload);
  try {
    const { body } = await callApi(backend, 'POST', '/v1/intents', {
      channel: config.channel,
      account: config.account ?? 'default',
      payload,
      idempotencyKey,
      ...(config.requiresApproval ? { requiresApproval: true } : {}),
    });
    const intent = body as { id: string; state: string };
    const when = intent.state === 'pending_approval' ? 'once a person approves it' : 'shortly';
    return {
      block: true,
      blockReason:
        `handoff: this send was handed to handoff as intent ${intent.id} (${intent.state}); it will be sent exactly once ${when}. ` +
        `Do not send it again; check it with intent_status (id ${intent.id}).`,
    };
  } catch (err) {
    // fail closed: a send that handoff did not record is not performed behind its back
    const code = (err as { code?: string }).code ?? 'error';
    return {
      block: true,
      blockReason: `handoff: the send was not recorded (${code}: ${(err as Error).message}); it was not sent. Try again later.`,
    };
  }
}
