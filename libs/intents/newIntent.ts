import { randomUUID } from 'node:crypto';
import { formatIssues, type CreateIntentBody, type FieldIssue, type Policy } from '@handoff/contracts';
import { needsApproval } from './approvalPolicy.ts';
import { InvalidIntent, UnknownChannel } from './errors.ts';
import { payloadHash } from './payloadHash.ts';
import { initialState } from './stateMachine.ts';
import type { NewIntent } from './sql/createIntents.ts';

/** What the store needs to know of connectors; @handoff/connectors' registry satisfies it. */
export interface ConnectorCatalog {
  get(name: string): { externalEffect: boolean } | undefined;
  names(): string[];
  validatePayload(
    channel: string,
    payload: unknown,
  ): { ok: true; payload: unknown } | { ok: false; issues: FieldIssue[] };
}

/**
 * The most JSON one intent's payload may hold, however it arrives (HTTP or the agent's
 * propose_intent): the coordinator's request body limit, so no path stores more than the API takes.
 */
export const MAX_INTENT_PAYLOAD_BYTES = 1024 * 1024;

/**
 * The row a create writes: the channel known, the payload valid for its connector and within the size
 * limit, the state and attempt budget decided by the policy in force. Throws UnknownChannel or
 * InvalidIntent (naming the field) and writes nothing.
 */
export function newIntent(
  body: CreateIntentBody,
  actor: string,
  connectors: ConnectorCatalog,
  policy: Policy,
): NewIntent {
  const connector = connectors.get(body.channel);
  if (!connector) throw new UnknownChannel(body.channel, connectors.names());
  const checked = connectors.validatePayload(body.channel, body.payload);
  if (!checked.ok) throw new InvalidIntent(formatIssues(checked.issues), checked.issues);
  const payloadJson = JSON.stringify(body.payload);
  const payloadBytes = Buffer.byteLength(payloadJson, 'utf8');
  if (payloadBytes > MAX_INTENT_PAYLOAD_BYTES) {
    const message = `payload is ${payloadBytes} bytes of JSON; an intent holds at most ${MAX_INTENT_PAYLOAD_BYTES}`;
    throw new InvalidIntent(message, [{ path: 'payload', message }]);
  }
  const requiresApproval = needsApproval(policy, {
    channel: body.channel,
    account: body.account,
    externalEffect: connector.externalEffect,
    requested: body.requiresApproval,
  });
  const notBefore = body.notBefore ? new Date(body.notBefore) : null;
  return {
    row: {
      id: randomUUID(),
      idempotency_key: body.idempotencyKey,
      channel: body.channel,
      account: body.account,
      payload: payloadJson,
      payload_hash: payloadHash(body.channel, body.account, body.payload),
      state: initialState(requiresApproval),
      requires_approval: requiresApproval,
      created_by: actor,
      not_before: notBefore,
      run_after: notBefore,
      max_attempts: body.maxAttempts ?? policy.retry.maxAttempts,
      approved_by: null,
      approved_at: null,
      approved_payload_hash: null,
      approval_expires_at: null,
      lease_owner: null,
      lease_expires_at: null,
      last_error: null,
      state_reason: requiresApproval ? 'waiting for approval' : 'no approval needed by policy',
    },
    // approved at birth: its wake-up ticket is written with it
    ticket: !requiresApproval,
    notBefore,
  };
}
