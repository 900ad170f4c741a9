/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries from
 * many intents spread out without ever collapsing to zero.
 */
export function backoffMs(
  failedAttempts: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random = Math.random,
): number {
  const exp = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
