import type { FieldIssue } from '@handoff/contracts';

/**
 * What the intent store refuses, as domain errors: each names its reason with a stable `code` (the
 * same word the HTTP API answers) and carries no HTTP status. The coordinator's errors.ts is the one
 * place that maps them to a status; the agent reports them to the model by `code` and message.
 */
export abstract class IntentError extends Error {
  abstract readonly code:
    'not_found' | 'invalid_state' | 'idempotency_conflict' | 'unknown_channel' | 'validation_failed';
  readonly details?: unknown;
  constructor(message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    if (details !== undefined) this.details = details;
  }
}

/** No intent has that id. */
export class IntentNotFound extends IntentError {
  readonly code = 'not_found';
  constructor(id: string) {
    super(`no intent with id ${id}`);
  }
}

/** The transition asked for is not allowed from the intent's current state (see stateMachine.ts). */
export class InvalidTransition extends IntentError {
  readonly code = 'invalid_state';
  constructor(id: string, verb: string, state: string, allowedFrom: readonly string[]) {
    super(`cannot ${verb} intent ${id}: it is ${state}`, { state, allowedFrom: [...allowedFrom] });
  }
}

/** The idempotency key already names an intent with a different payload. */
export class IdempotencyConflict extends IntentError {
  readonly code = 'idempotency_conflict';
  constructor(key: string, intentId: string) {
    super(`idempotencyKey "${key}" already names intent ${intentId} with a different payload`, { intentId });
  }
}

/** No connector has that name. */
export class UnknownChannel extends IntentError {
  readonly code = 'unknown_channel';
  constructor(channel: string, known: string[]) {
    super(`channel: unknown connector "${channel}"`, { known });
  }
}

/** The intent cannot be stored as asked: each issue names the field. */
export class InvalidIntent extends IntentError {
  readonly code = 'validation_failed';
  constructor(message: string, issues: FieldIssue[]) {
    super(message, issues);
  }
}
