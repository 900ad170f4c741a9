import { z } from 'zod';
import type { Connector } from '@handoff/connectors';
import { builtInConnectors } from '@handoff/connectors';
import { AccountName, IdempotencyKey, IntentDetail, type IntentState, type Receipt } from '@handoff/contracts';
import { callApi, type HandoffBackend } from './backend.ts';
import { channelNames, payloadInputSchema } from './channelSchemas.ts';

/**
 * handoff's agent tools, defined once for every transport: the MCP server (stdio and POST /mcp,
 * server.ts) and the OpenClaw plugin (integrations/openclaw) adapt these definitions, never copy them.
 * Each tool calls handoff's HTTP API through a HandoffBackend, so the API's own checks apply.
 */

export interface ToolContext {
  backend: HandoffBackend;
  /** Aborted when the client cancels the call or goes away. */
  signal: AbortSignal;
  /** Reports progress of a long call (wait_for_intent); a no-op where the client asked for none. */
  progress(update: { progress: number; total?: number; message: string }): Promise<void>;
}

/** What a tool answers: a line or two for a model to read, and the same facts as structured JSON. */
export interface ToolAnswer {
  text: string;
  structured: Record<string, unknown>;
}

export interface HandoffTool<S extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  description: string;
  inputSchema: S;
  /** MCP tool annotations: hints for clients (read-only, idempotent, ...). */
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  run(args: z.output<S>, ctx: ToolContext): Promise<ToolAnswer>;
}

function defineTool<S extends z.ZodType>(tool: HandoffTool<S>): HandoffTool<S> {
  return tool;
}

/**
 * States in which an intent goes nowhere without a person (or never again): wait_for_intent stops
 * there. `dead` and `in_doubt` can still be retried or resolved by an operator.
 */
const SETTLED_STATES: readonly IntentState[] = ['succeeded', 'rejected', 'expired', 'dead', 'in_doubt'];
const APPROVED_OR_LATER: readonly IntentState[] = ['approved', 'running', 'retry_wait', ...SETTLED_STATES];

const READING_THE_RESULT =
  'Read `state`: pending_approval (a person has not decided yet), approved/running/retry_wait (it will be done), ' +
  'succeeded (done: `receipt` holds the external id and url), rejected or expired (it will never run), ' +
  'dead or in_doubt (failed or unsure; a person must look at it: do not propose it again with a new key).';

const lookupShape = {
  id: z.uuid().optional().describe('the intent id propose_intent answered'),
  idempotencyKey: IdempotencyKey.optional().describe('the idempotencyKey it was proposed with (instead of id)'),
};

function oneOfIdOrKey(
  value: { id?: string | undefined; idempotencyKey?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((value.id === undefined) === (value.idempotencyKey === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['id'], message: 'give exactly one of id and idempotencyKey' });
  }
}

async function fetchIntent(
  backend: HandoffBackend,
  target: { id?: string | undefined; idempotencyKey?: string | undefined },
): Promise<IntentDetail> {
  const path =
    target.id !== undefined
      ? `/v1/intents/${encodeURIComponent(target.id)}`
      : `/v1/intents/by-key?idempotencyKey=${encodeURIComponent(target.idempotencyKey ?? '')}`;
  const { body } = await callApi(backend, 'GET', path);
  return IntentDetail.parse(body);
}

function successReceipt(intent: IntentDetail): Receipt | null {
  return intent.receipts.find((r) => r.kind === 'success') ?? null;
}

/** The facts a model needs of an intent, without the lease bookkeeping. */
function statusOf(intent: IntentDetail) {
  const receipt = successReceipt(intent);
  const lastFailure = [...intent.receipts].reverse().find((r) => r.kind === 'failure') ?? null;
  return {
    id: intent.id,
    state: intent.state,
    channel: intent.channel,
    account: intent.account,
    idempotencyKey: intent.idempotencyKey,
    requiresApproval: intent.requiresApproval,
    stateReason: intent.stateReason,
    approvedBy: intent.approvedBy,
    attemptCount: intent.attemptCount,
    lastError: intent.lastError,
    createdAt: intent.createdAt,
    updatedAt: intent.updatedAt,
    /** The success receipt (external id and url), once there is one. */
    receipt: receipt && {
      kind: receipt.kind,
      externalId: receipt.externalId,
      url: receipt.url,
      createdAt: receipt.createdAt,
      source: receipt.source,
    },
    lastFailure: lastFailure && {
      errorClass: lastFailure.errorClass,
      errorMessage: lastFailure.errorMessage,
      createdAt: lastFailure.createdAt,
    },
    /** Every receipt, oldest first, as GET /v1/intents/:id has them. */
    receipts: intent.receipts,
  };
}

function statusLine(intent: IntentDetail): string {
  const receipt = successReceipt(intent);
  const where = `${intent.channel}:${intent.account}`;
  switch (intent.state) {
    case 'succeeded':
      return `intent ${intent.id} on ${where} succeeded: external id ${receipt?.externalId ?? '?'}${receipt?.url ? `, ${receipt.url}` : ''}.`;
    case 'pending_approval':
      return `intent ${intent.id} on ${where} waits for a person to approve it; nothing has happened yet.`;
    case 'rejected':
    case 'expired':
      return `intent ${intent.id} on ${where} was ${intent.state} (${intent.stateReason ?? 'no reason given'}); it will never run.`;
    case 'dead':
    case 'in_doubt':
      return `intent ${intent.id} on ${where} is ${intent.state} (${intent.lastError ?? intent.stateReason ?? 'no detail'}); a person must look at it.`;
    default:
      return `intent ${intent.id} on ${where} is ${intent.state}; it will be performed.`;
  }
}

export function proposeIntentTool(connectors: readonly Connector[] = builtInConnectors) {
  return defineTool({
    name: 'propose_intent',
    title: 'Propose a side effect',
    description:
      'Ask handoff to perform a side effect (call a webhook, post to X, send an email, write a calendar event, trigger a deployment) instead of acting yourself. ' +
      'Nothing happens when this returns: the intent is recorded, and where policy asks (by default for every channel with an effect outside) ' +
      'it waits until a person approves it; an executor then performs it exactly once. ' +
      'Pick an idempotencyKey that names this one action (e.g. "post-release-notes-v1.4") and reuse the SAME key when you retry after an error, ' +
      'a timeout or a restart: the same key with the same payload answers the existing intent instead of doing it twice; the same key with a ' +
      'different payload is refused (idempotency_conflict), so use a new key only for a new action. ' +
      'The answer holds the intent id and state (pending_approval or approved); follow it with wait_for_intent or intent_status. ' +
      'Call list_channels first to see which channels and accounts the executors hold.',
    inputSchema: z.strictObject({
      channel: z.enum(channelNames(connectors)).describe('the connector that performs the effect'),
      account: AccountName.optional().describe(
        'the credential set on the executor (list_channels shows them); default "default"',
      ),
      payload: payloadInputSchema(connectors),
      idempotencyKey: IdempotencyKey.describe(
        '1 to 255 characters naming this one action; the same key on every retry of it',
      ),
      requiresApproval: z
        .boolean()
        .optional()
        .describe('ask a person to approve even when the policy would not (it can never skip an approval)'),
      notBefore: z.iso
        .datetime({ offset: true })
        .optional()
        .describe('do not perform it before this time (ISO 8601 with offset)'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run(args, ctx) {
      const body = { ...args, account: args.account ?? 'default' };
      const { status, body: answer } = await callApi(ctx.backend, 'POST', '/v1/intents', body);
      const intent = answer as {
        id: string;
        state: IntentState;
        channel: string;
        account: string;
        idempotencyKey: string;
        requiresApproval: boolean;
        payloadHash: string;
        createdAt: string;
      };
      const created = status === 201;
      const next =
        intent.state === 'pending_approval'
          ? 'It waits for a person to approve it; nothing has happened yet. Call wait_for_intent to learn the outcome.'
          : 'An executor will perform it; call wait_for_intent to learn the outcome.';
      return {
        text: `${created ? 'Proposed' : 'Already proposed with this key (the existing intent, nothing new)'}: intent ${intent.id} on ${intent.channel}:${intent.account}, state ${intent.state}. ${next}`,
        structured: {
          created,
          id: intent.id,
          state: intent.state,
          channel: intent.channel,
          account: intent.account,
          idempotencyKey: intent.idempotencyKey,
          requiresApproval: intent.requiresApproval,
          payloadHash: intent.payloadHash,
          createdAt: intent.createdAt,
        },
      };
    },
  });
}

export const intentStatusTool = defineTool({
  name: 'intent_status',
  title: 'Intent status',
  description: `Where an intent stands now, by its id or by the idempotencyKey it was proposed with; answers at once. ${READING_THE_RESULT}`,
  inputSchema: z.strictObject(lookupShape).superRefine(oneOfIdOrKey),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(args, ctx) {
    const intent = await fetchIntent(ctx.backend, args);
    return { text: statusLine(intent), structured: statusOf(intent) };
  },
});

/** How often wait_for_intent looks, and how often at least it reports progress. */
const POLL_MS = 500;
const PROGRESS_EVERY_MS = 2_000;
export const WAIT_DEFAULT_SECONDS = 50;
export const WAIT_MAX_SECONDS = 3_600;

export const waitForIntentTool = defineTool({
  name: 'wait_for_intent',
  title: 'Wait for an intent',
  description:
    'Waits until an intent is settled (succeeded, rejected, expired, dead or in_doubt), or, with until="approved", until a person has approved it, ' +
    `or until timeoutSeconds pass (default ${WAIT_DEFAULT_SECONDS}), sending progress notifications meanwhile. A timeout is not a failure: ` +
    '`done` is false and the intent goes on; call wait_for_intent again later (approvals can take hours). Never propose the action again with a ' +
    `new key because of a timeout. ${READING_THE_RESULT}`,
  inputSchema: z
    .strictObject({
      ...lookupShape,
      until: z
        .enum(['settled', 'approved'])
        .optional()
        .describe('"settled" (default): until the outcome is known; "approved": until a person has approved it'),
      timeoutSeconds: z
        .int()
        .min(1)
        .max(WAIT_MAX_SECONDS)
        .optional()
        .describe(`give up waiting after this long (default ${WAIT_DEFAULT_SECONDS})`),
    })
    .superRefine(oneOfIdOrKey),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(args, ctx) {
    const until = args.until ?? 'settled';
    const goal = until === 'approved' ? APPROVED_OR_LATER : SETTLED_STATES;
    const timeoutMs = (args.timeoutSeconds ?? WAIT_DEFAULT_SECONDS) * 1000;
    const started = Date.now();
    let lastReport = 0;
    let lastState: IntentState | null = null;
    let intent = await fetchIntent(ctx.backend, args);
    for (;;) {
      const done = goal.includes(intent.state);
      const waited = Date.now() - started;
      if (done || waited >= timeoutMs || ctx.signal.aborted) {
        const outcome = done
          ? until === 'approved' && !SETTLED_STATES.includes(intent.state)
            ? 'approved'
            : 'settled'
          : 'timeout';
        const text = done
          ? statusLine(intent)
          : `Still ${intent.state} after ${Math.round(waited / 1000)} s; not done yet. Call wait_for_intent again later (same id), do not propose it again. ${statusLine(intent)}`;
        return { text, structured: { done, outcome, waitedMs: waited, ...statusOf(intent) } };
      }
      if (intent.state !== lastState || Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastState = intent.state;
        lastReport = Date.now();
        await ctx.progress({
          progress: Math.round(waited / 1000),
          total: Math.round(timeoutMs / 1000),
          message: `intent ${intent.id} is ${intent.state}`,
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(POLL_MS, Math.max(0, timeoutMs - waited)));
        ctx.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      // aborted (the caller went away, the server is stopping): answer with what is known
      if (!ctx.signal.aborted) intent = await fetchIntent(ctx.backend, { id: intent.id });
    }
  },
});

export const listChannelsTool = defineTool({
  name: 'list_channels',
  title: 'List channels',
  description:
    'The channels (connectors) handoff knows, the accounts the running executors hold credentials for on each, and whether an intent there needs ' +
    "a person's approval under the policy in force. Account `*` means any account (the channel needs no credentials). An intent for a " +
    'channel:account no executor serves is kept and waits until one starts. Never shows a secret.',
  inputSchema: z.strictObject({}),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(_args, ctx) {
    const { body } = await callApi(ctx.backend, 'GET', '/v1/channels');
    const answer = body as {
      channels: { channel: string; needsApproval: boolean; accounts: { account: string; needsApproval: boolean }[] }[];
    };
    const lines = answer.channels.map((c) => {
      const accounts =
        c.accounts.length > 0
          ? c.accounts
              .map(
                (a) =>
                  `${a.account === '*' ? 'any account' : a.account}${a.needsApproval ? ' (needs approval)' : ' (no approval needed)'}`,
              )
              .join(', ')
          : 'no executor serves it now';
      return `${c.channel}: ${accounts}`;
    });
    return { text: lines.join('\n'), structured: answer as unknown as Record<string, unknown> };
  },
});

/** Every tool, in the order a client lists them. */
export function handoffTools(connectors: readonly Connector[] = builtInConnectors): HandoffTool[] {
  return [
    proposeIntentTool(connectors),
    intentStatusTool,
    waitForIntentTool,
    listChannelsTool,
  ] as unknown as HandoffTool[];
}
