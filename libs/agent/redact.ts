import { redactSecretLooking, redactValue } from '@handoff/contracts';

/**
 * Secrets out of audit records: values of keys that name a secret, and strings that look like a
 * bearer token or an API key wherever they appear. The rules live in @handoff/contracts
 * (redaction.ts), the one home of redaction; audit records mark what they hid in capitals.
 */
export const REDACTED = '[REDACTED]';

export function redactString(text: string): string {
  return redactSecretLooking(text, REDACTED);
}

export function redact(value: unknown): unknown {
  return redactValue(value, REDACTED);
}
