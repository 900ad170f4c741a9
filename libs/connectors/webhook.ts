import { request } from 'undici';
import { createEffectAgent } from './effectAgent.ts';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { formatIssues, describeZodIssues, hostListed } from '@handoff/contracts';
import { redactorFor } from './redact.ts';
import type { Policy } from '@handoff/contracts';
import type { Resolve } from './addressGuard.ts';
import { assertCredentialHost } from './credentialHosts.ts';
import type { Connector, ConnectorContext, ConnectorIntent, ExecuteResult, ReconcileResult } from './connector.ts';
import { ConnectorError, PermanentError, RateLimitedError, RetryableError, UnknownOutcomeError } from './errors.ts';
import { BEFORE_SEND_CODES, addressRefused, errorCode } from './transport.ts';

/**
 * Headers a payload (or a credential set) may not set: hop-by-hop headers belong to the connection,
 * and `idempotency-key`, `host` and `content-length` are the connector's to set.
 */
const FORBIDDEN_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'idempotency-key',
  'host',
  'content-length',
]);

// RFC 9110 token; values may not carry CR, LF or NUL (header injection).
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;

function headerProblem(name: string, value: string): string | undefined {
  if (!HEADER_NAME.test(name)) return 'is not a valid header name';
  if (FORBIDDEN_HEADERS.has(name.toLowerCase())) return 'may not be set (hop-by-hop or set by the connector)';
  if (!HEADER_VALUE.test(value)) return 'must not contain CR, LF or NUL';
  return undefined;
}

const Headers = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    const problem = headerProblem(name, value);
    if (problem) ctx.addIssue({ code: 'custom', path: [name], message: `header "${name}" ${problem}` });
  }
});

export const WebhookPayload = z.strictObject({
  // Any http(s) host here (z.httpUrl would insist on a domain name); on the executor, policy
  // webhook.allowedHosts narrows it, and internal addresses need naming there (addressGuard.ts).
  url: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }),
  method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
  headers: Headers.optional(),
  /** Sent as JSON. Absent: the request has no body. */
  body: z.unknown(),
  /**
   * Where the receiver answers "did you get this key?": GET with the same Idempotency-Key header;
   * 2xx means yes, 404 means no. Lets a takeover reconcile instead of parking the intent in_doubt.
   */
  statusUrl: z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
});
export type WebhookPayload = z.infer<typeof WebhookPayload>;

/** What an executor may hold for a webhook account, e.g. `{headers: {authorization: "Bearer …"}}`. */
const WebhookCredentials = z.object({ headers: z.record(z.string(), z.string()).optional() });

const MAX_SUCCESS_BODY = 1024 * 1024;
const MAX_ERROR_BODY = 4096;
const ERROR_SNIPPET = 200;
const DEFAULT_RETRY_AFTER_MS = 1000;

/** Failures after the request may have been sent: the receiver may or may not have acted. */
const AFTER_SEND_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
]);

/** Errors undici raises while checking the request, before it opens a connection. */
const INVALID_REQUEST_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED']);

export interface WebhookConnectorOptions {
  /**
   * Dispatcher for every call; default a dedicated keep-alive Agent owned by this connector, which
   * refuses internal addresses at connect time. A dispatcher passed in does no such check.
   */
  dispatcher?: Dispatcher;
  connectTimeoutMs?: number;
  /** Name resolution for the address check (tests inject a rebinding resolver). */
  resolve?: Resolve;
}

export type WebhookConnector = Connector<WebhookPayload> & {
  /** Closes the connector's own keep-alive Agent (not a dispatcher passed in). */
  close(): Promise<void>;
};

export function createWebhookConnector(options: WebhookConnectorOptions = {}): WebhookConnector {
  // A dedicated Agent keeps webhook connections apart from anything else in the process (the
  // model router, for one) and reuses them across intents to the same receiver.
  // The policy of the latest call: one policy holds for the whole executor at a time.
  let allowedHosts: readonly string[] = [];
  const ownAgent = options.dispatcher
    ? undefined
    : createEffectAgent({
        connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
        addressGuard: { allowedHosts: () => allowedHosts, resolve: options.resolve },
      });
  const dispatcher: Dispatcher = options.dispatcher ?? (ownAgent as Dispatcher);
  const withPolicy = (policy: Policy): Dispatcher => {
    allowedHosts = policy.webhook.allowedHosts;
    return dispatcher;
  };

  return {
    name: 'webhook',
    externalEffect: true,
    // Credentials are optional: an account may add headers (an Authorization only the executor holds).
    needsCredentials: false,
    payloadSchema: WebhookPayload,
    execute: (intent, ctx) => executeWebhook(withPolicy(ctx.policy), intent, ctx),
    // Without a statusUrl a webhook has no way to ask "did you get key K?": unknown, so a
    // taken-over attempt goes to in_doubt.
    reconcile: (intent, ctx) => reconcileWebhook(withPolicy(ctx.policy), intent, ctx),
    breakerTarget: (payload) => receiverOf(payload.url),
    async close() {
      await ownAgent?.close();
    },
  };
}

export const webhookConnector: WebhookConnector = createWebhookConnector();

async function executeWebhook(
  dispatcher: Dispatcher,
  intent: ConnectorIntent<WebhookPayload>,
  ctx: ConnectorContext,
): Promise<ExecuteResult> {
  // Parse again: the executor's copy of the payload comes from the database, and this fills defaults.
  const parsed = WebhookPayload.safeParse(intent.payload);
  if (!parsed.success) {
    throw new PermanentError(`invalid webhook payload: ${formatIssues(describeZodIssues(parsed.error, 'payload'))}`);
  }
  const payload = parsed.data;
  const url = new URL(payload.url);
  const target = `${payload.method} ${url.host}`; // never the path or query: they may carry tokens

  const refused = hostRefused(url, ctx.policy);
  if (refused) throw new PermanentError(`webhook ${refused}`);

  const credentialHeaders = parseCredentialHeaders(ctx.credentials);
  assertCredentialHost(intent, ctx.credentials, url, `webhook ${target}`);
  const redact = redactorFor(ctx);

  const headers: Record<string, string> = {};
  if (payload.body !== undefined) headers['content-type'] = 'application/json';
  for (const [name, value] of Object.entries(payload.headers ?? {})) headers[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(credentialHeaders)) headers[name.toLowerCase()] = value;
  // Last, so nothing can override it: the receiver dedupes repeats on this key.
  headers['idempotency-key'] = intent.idempotencyKey;

  const timeoutMs = ctx.policy.webhook.timeoutMs;
  const started = Date.now();
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      dispatcher,
      method: payload.method,
      headers,
      body: payload.body === undefined ? undefined : JSON.stringify(payload.body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: ctx.signal,
    });
  } catch (err) {
    throw transportError(err, target, ctx.signal, redact);
  }

  const { statusCode, headers: resHeaders, body } = response;
  ctx.log.debug({ intentId: intent.id, target, status: statusCode, ms: Date.now() - started }, 'webhook answered');
  try {
    if (statusCode >= 200 && statusCode < 300) {
      let text: string | undefined;
      try {
        text = await readCapped(body, MAX_SUCCESS_BODY);
      } catch (err) {
        // The receiver already said 2xx: the effect happened. Keep the success; only the id is poorer.
        ctx.log.warn({ intentId: intent.id, target, err: redact(String(err)) }, 'webhook 2xx body unreadable');
      }
      return successResult(text, resHeaders, intent.idempotencyKey);
    }

    const snippet = await errorSnippet(body, redact);
    if (statusCode === 429) {
      const retryAfterMs = parseRetryAfter(resHeaders['retry-after']) ?? DEFAULT_RETRY_AFTER_MS;
      throw new RateLimitedError(`webhook ${target} answered 429${snippet}`, retryAfterMs);
    }
    if (statusCode === 408 || statusCode >= 500) {
      throw new RetryableError(`webhook ${target} answered ${statusCode}${snippet}`);
    }
    const note = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed)' : '';
    throw new PermanentError(`webhook ${target} answered ${statusCode}${note}${snippet}`);
  } finally {
    // Always release the socket: an unread body would pin the connection.
    if (!body.readableEnded && !body.destroyed) body.destroy();
  }
}

async function reconcileWebhook(
  dispatcher: Dispatcher,
  intent: ConnectorIntent<WebhookPayload>,
  ctx: ConnectorContext,
): Promise<ReconcileResult> {
  const parsed = WebhookPayload.safeParse(intent.payload);
  if (!parsed.success || !parsed.data.statusUrl) {
    return { status: 'unknown', reason: 'the webhook has no statusUrl to ask whether it received the call' };
  }
  const url = new URL(parsed.data.statusUrl);
  // statusUrl obeys the same rules as url: the allowlist, and credentials only to their hosts.
  const refused = hostRefused(url, ctx.policy);
  if (refused) return { status: 'unknown', reason: `status check ${refused}` };
  let headers: Record<string, string>;
  try {
    assertCredentialHost(intent, ctx.credentials, url, `status check GET ${url.host}`);
    headers = { ...lowerCaseKeys(parseCredentialHeaders(ctx.credentials)), 'idempotency-key': intent.idempotencyKey };
  } catch (err) {
    return { status: 'unknown', reason: (err as Error).message };
  }
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      dispatcher,
      method: 'GET',
      headers,
      headersTimeout: ctx.policy.webhook.timeoutMs,
      bodyTimeout: ctx.policy.webhook.timeoutMs,
      signal: ctx.signal,
    });
  } catch (err) {
    const why = addressRefused(err) ? redactorFor(ctx)((err as Error).message) : (errorCode(err) ?? 'no code');
    return { status: 'unknown', reason: `status check GET ${url.host} failed (${why})` };
  }
  try {
    if (response.statusCode >= 200 && response.statusCode < 300) {
      const text = await readCapped(response.body, MAX_SUCCESS_BODY).catch(() => undefined);
      return { status: 'done', ...successResult(text, response.headers, intent.idempotencyKey) };
    }
    if (response.statusCode === 404) return { status: 'not_done' };
    return { status: 'unknown', reason: `status check GET ${url.host} answered ${response.statusCode}` };
  } finally {
    // dump, not destroy: destroying an unread body raises an AbortError nobody listens for
    await response.body.dump().catch(() => undefined);
  }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function parseCredentialHeaders(credentials: Record<string, unknown> | undefined): Record<string, string> {
  if (credentials === undefined) return {};
  const parsed = WebhookCredentials.safeParse(credentials);
  // Name the field, never the value.
  if (!parsed.success)
    throw new PermanentError('webhook credentials for this account are malformed: headers must map names to strings');
  const headers = parsed.data.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    const problem = headerProblem(name, value);
    if (problem) throw new PermanentError(`webhook credentials for this account: header "${name}" ${problem}`);
  }
  return headers;
}

/**
 * The receiver of a call to `url` as a breaker target: `host:port`, the port written out (443 for
 * https, 80 for http), so `https://h/` and `https://h:443/` share one. Never the path or query (they
 * may carry tokens, and the breaker key is shown in `handoff live`).
 */
export function receiverOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/** Why policy refuses a host before any request (allowedHosts set and not naming it), or undefined. */
export function hostRefused(url: URL, policy: Policy): string | undefined {
  const allowed = policy.webhook.allowedHosts;
  if (allowed.length > 0 && !hostListed(url, allowed))
    return `host "${url.host}" is not in policy webhook.allowedHosts`;
  return undefined;
}

function successResult(
  text: string | undefined,
  headers: Dispatcher.ResponseData['headers'],
  idempotencyKey: string,
): ExecuteResult {
  let json: unknown;
  if (text !== undefined && text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  const record =
    typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  const id = record.id;
  const requestId = firstHeader(headers['x-request-id']);
  let externalId: string;
  if (typeof id === 'string' && id !== '') externalId = id;
  else if (typeof id === 'number' && Number.isFinite(id)) externalId = String(id);
  else if (requestId) externalId = requestId;
  else externalId = `webhook:${idempotencyKey}`;
  return { externalId, url: typeof record.url === 'string' ? record.url : null };
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buf);
    size += buf.length;
    if (size >= max) break; // leaving the loop destroys the stream
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

async function errorSnippet(body: Dispatcher.ResponseData['body'], redact: (s: string) => string): Promise<string> {
  let text: string;
  try {
    text = await readCapped(body, MAX_ERROR_BODY);
  } catch {
    return '';
  }
  const clean = redact(text).replace(/\s+/g, ' ').trim();
  if (clean === '') return '';
  return `: ${clean.length > ERROR_SNIPPET ? `${clean.slice(0, ERROR_SNIPPET)}…` : clean}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After is either delta-seconds or an HTTP date. Returns milliseconds from `now`, or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = firstHeader(value)?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function transportError(
  err: unknown,
  target: string,
  signal: AbortSignal,
  redact: (s: string) => string,
): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const code = errorCode(err);
  const detail = redact(err instanceof Error ? err.message : String(err));
  const cause = { cause: err };
  if (addressRefused(err)) return new PermanentError(`webhook ${target} refused: ${detail}`);
  if (signal.aborted || code === 'UND_ERR_ABORTED' || (err instanceof Error && err.name === 'AbortError')) {
    // The executor gave up (shutdown, lease lost). Safe to repeat for the same reason as a timeout.
    return new RetryableError(`webhook ${target} aborted: ${detail}`, cause);
  }
  if (code && BEFORE_SEND_CODES.has(code)) {
    return new RetryableError(`webhook ${target} could not connect (${code}): ${detail}`, cause);
  }
  if (code && (code.startsWith('ERR_TLS_') || code.includes('CERT') || code.startsWith('UNABLE_TO_'))) {
    // TLS fails during the handshake, before the request is written.
    return new RetryableError(`webhook ${target} TLS failure (${code}): ${detail}`, cause);
  }
  if (code && AFTER_SEND_CODES.has(code)) {
    // The request may have reached the receiver. Retrying is safe ONLY because every call carries
    // the intent's Idempotency-Key and the receiver dedupes on it; a connector whose provider does
    // not dedupe must throw UnknownOutcomeError here instead.
    return new RetryableError(`webhook ${target} failed after sending (${code}): ${detail}`, cause);
  }
  if (code && INVALID_REQUEST_CODES.has(code)) {
    return new PermanentError(`webhook ${target} request refused by the HTTP client (${code}): ${detail}`, cause);
  }
  return new UnknownOutcomeError(`webhook ${target} failed (${code ?? 'no code'}): ${detail}`, cause);
}
