import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { ConnectorError, PermanentError, RetryableError, UnknownOutcomeError } from './errors.ts';
import { createRedactor } from '@handoff/contracts';
import { BEFORE_SEND_CODES, addressRefused, errorCode } from './transport.ts';

/**
 * Small HTTP helpers shared by the x and deploy connectors. webhook.ts keeps its transport
 * classification private and treats a cut-off call as retryable (its receiver dedupes on the
 * Idempotency-Key); X and GitHub do not dedupe, so here a failure after the request may have left
 * is an UnknownOutcomeError.
 */

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

export interface HttpCall {
  dispatcher: Dispatcher;
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Names the call in messages: never a token, path or query. */
  target: string;
  redact: (text: string) => string;
  /** GETs have no effect: a failure after sending is retryable there, unknown for a POST. */
  sideEffect: boolean;
}

const MAX_BODY = 1024 * 1024;

export async function httpCall(call: HttpCall): Promise<HttpAnswer> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(call.url, {
      dispatcher: call.dispatcher,
      method: call.method,
      headers: call.headers,
      body: call.body,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
      signal: call.signal,
    });
  } catch (err) {
    throw transportError(err, call);
  }
  let text = '';
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buf);
      size += buf.length;
      if (size >= MAX_BODY) break;
    }
    text = Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
  } catch (err) {
    if (!response.body.destroyed) response.body.destroy();
    // A status arrived; only the body was cut. For a 2xx the effect happened and the caller can
    // still read the status; an empty text is what it gets.
    if (response.statusCode < 200 || response.statusCode >= 300) throw transportError(err, call);
  }
  let json: unknown;
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: response.statusCode, headers: response.headers, text, json };
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** An epoch-seconds reset header (X `x-rate-limit-reset`, GitHub `x-ratelimit-reset`) as ms from now. */
export function epochResetMs(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = firstHeader(value)?.trim();
  if (!raw || !/^\d+$/.test(raw)) return undefined;
  return Math.max(0, Number(raw) * 1000 - now);
}

export function transportError(
  err: unknown,
  call: Pick<HttpCall, 'target' | 'redact' | 'sideEffect' | 'signal'>,
): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const code = errorCode(err);
  const detail = call.redact(err instanceof Error ? err.message : String(err));
  // Keep the original out of `cause`: its message may carry something we just redacted.
  if (addressRefused(err)) return new PermanentError(`${call.target} refused: ${detail}`);
  if (code && BEFORE_SEND_CODES.has(code)) {
    return new RetryableError(`${call.target} could not connect (${code}): ${detail}`);
  }
  if (code && (code.startsWith('ERR_TLS_') || code.includes('CERT') || code.startsWith('UNABLE_TO_'))) {
    return new RetryableError(`${call.target} TLS failure (${code}): ${detail}`);
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
    return new PermanentError(`${call.target} request refused by the HTTP client (${code}): ${detail}`);
  }
  const aborted =
    call.signal?.aborted || code === 'UND_ERR_ABORTED' || (err instanceof Error && err.name === 'AbortError');
  if (!call.sideEffect) {
    return new RetryableError(`${call.target} failed (${aborted ? 'aborted' : (code ?? 'no code')}): ${detail}`);
  }
  // The request may have reached the provider, which does not dedupe: only reconcile can tell.
  return new UnknownOutcomeError(
    `${call.target} failed after the request may have been sent (${aborted ? 'aborted' : (code ?? 'no code')}): ${detail}`,
  );
}

/** A redactor of these secret values in every encoding (the shared one, @handoff/contracts). */
export function redactor(values: Array<string | undefined>): (text: string) => string {
  return createRedactor(values);
}

/** A short, redacted, one-line view of an error body for messages. */
export function snippet(text: string, redact: (s: string) => string, max = 200): string {
  const clean = redact(text).replace(/\s+/g, ' ').trim();
  if (clean === '') return '';
  return `: ${clean.length > max ? `${clean.slice(0, max)}…` : clean}`;
}
