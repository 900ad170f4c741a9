/**
 * Connector failures as typed values. The executor decides what to do from `errorClass` alone:
 * - retryable:    nothing happened, or repeating is safe; back off and try again (burns an attempt)
 * - rate_limited: the provider said "later"; drain the bucket until then (burns no attempt)
 * - permanent:    repeating cannot help (bad request, refused by policy); dead-letter now
 * - unknown:      the effect may or may not have happened; never repeat on a guess (in_doubt)
 *
 * Messages end up in receipts, logs and the live report: they must never contain credentials.
 */
export type ErrorClass = 'retryable' | 'rate_limited' | 'permanent' | 'unknown';

export class ConnectorError extends Error {
  readonly errorClass: ErrorClass;
  constructor(errorClass: ErrorClass, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectorError';
    this.errorClass = errorClass;
  }
}

export class RetryableError extends ConnectorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('retryable', message, options);
    this.name = 'RetryableError';
  }
}

export class RateLimitedError extends ConnectorError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super('rate_limited', message, options);
    this.name = 'RateLimitedError';
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs));
  }
}

export class PermanentError extends ConnectorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('permanent', message, options);
    this.name = 'PermanentError';
  }
}

/** The call may or may not have taken effect, e.g. the connection dropped after the request was sent. */
export class UnknownOutcomeError extends ConnectorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unknown', message, options);
    this.name = 'UnknownOutcomeError';
  }
}

export interface ClassifiedError {
  errorClass: ErrorClass;
  message: string;
  retryAfterMs?: number;
}

const MAX_MESSAGE = 2000;

function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

/**
 * Anything that is not a ConnectorError counts as `unknown`: an unexpected throw may have happened
 * before or after the effect, and only a reconcile or a person can tell which.
 */
export function classifyError(err: unknown, redact: (text: string) => string = (t) => t): ClassifiedError {
  // redacted before clipped: a clipped copy of a credential would no longer match
  if (err instanceof ConnectorError) {
    const out: ClassifiedError = { errorClass: err.errorClass, message: clip(redact(err.message)) };
    if (err instanceof RateLimitedError) out.retryAfterMs = err.retryAfterMs;
    return out;
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : `non-error thrown: ${String(err)}`;
  return { errorClass: 'unknown', message: clip(redact(`unexpected ${message}`)) };
}
