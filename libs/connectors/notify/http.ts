import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { ConnectorError } from '../errors.ts';
import { PermanentError, RateLimitedError, RetryableError } from '../errors.ts';
import type { ConnectorContext, ConnectorIntent } from '../connector.ts';
import { assertCredentialHost } from '../credentialHosts.ts';
import { httpCall, snippet } from '../xHttp.ts';
import type { HttpAnswer } from '../xHttp.ts';

/** What every provider's sender gets: one notification, its target's checked secrets, the means to call. */
export interface SendContext<S> {
  intent: ConnectorIntent;
  secrets: S;
  ctx: ConnectorContext;
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** This target's credentials and everything else the executor holds, in every encoding. */
  redact: (text: string) => string;
}

/**
 * POSTs JSON to a provider whose URL comes from the target's secrets (never from the payload), only
 * after checking that its credentials may go there (decision 26). Redirects are not followed. A
 * failure after the request may have left is an UnknownOutcomeError: no provider here dedupes.
 */
export async function postJson(
  send: SendContext<unknown>,
  url: URL,
  body: unknown,
  target: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  assertCredentialHost(send.intent, send.ctx.credentials, url, target);
  return httpCall({
    dispatcher: send.dispatcher,
    method: 'POST',
    url: url.toString(),
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify(body),
    timeoutMs: send.timeoutMs,
    signal: send.ctx.signal,
    target,
    redact: send.redact,
    sideEffect: true,
  });
}

/**
 * A provider's refusal as a typed error: 429 waits `retryAfterMs`; 408 and 5xx are retryable (the
 * provider says it did not act); a redirect is not followed (a credential stays with its host);
 * 401 and 403 name the credentials; any other 4xx is permanent.
 */
export function refusal(
  target: string,
  answer: HttpAnswer,
  redact: (text: string) => string,
  retryAfterMs: number,
  detail: string = answer.text,
): ConnectorError {
  const status = answer.status;
  const said = snippet(detail, redact);
  if (status === 429) {
    return new RateLimitedError(
      `${target} answered 429 (rate limited for ${Math.ceil(retryAfterMs / 1000)} s)${said}`,
      retryAfterMs,
    );
  }
  if (status === 408 || status >= 500) return new RetryableError(`${target} answered ${status}${said}`);
  if (status >= 300 && status < 400)
    return new PermanentError(
      `${target} answered ${status} (redirects are not followed: the target's URL in secrets.json is out of date?)`,
    );
  if (status === 401 || status === 403)
    return new PermanentError(`${target} answered ${status}${said}: check this target's credentials in secrets.json`);
  return new PermanentError(`${target} answered ${status}${said}`);
}

/** An id for providers that return none: a pure function of the idempotency key. */
export function keyedId(kind: string, idempotencyKey: string): string {
  return `${kind}:${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 24)}`;
}
