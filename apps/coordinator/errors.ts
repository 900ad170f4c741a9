import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { ApiError, describeZodIssues, formatIssues } from '@handoff/contracts';
import type { ApiErrorBody, ApiErrorCode, FieldIssue } from '@handoff/contracts';
import { IntentError } from '@handoff/intents';

/**
 * The one place where anything thrown while serving a request becomes `{error: {code, message, details?}}`.
 * Callers' mistakes get a 4xx naming the field; everything else is a 500 with a generic message, logged
 * in full here and never sent (no stack traces, no SQL).
 */

interface ValidationEntry {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

interface MaybeFastifyError extends Error {
  code?: string;
  statusCode?: number;
  validation?: ValidationEntry[];
  validationContext?: string;
}

export function sendError(
  reply: FastifyReply,
  status: number,
  code: ApiErrorCode,
  message: string,
  details?: unknown,
): FastifyReply {
  const body: ApiErrorBody = { error: details === undefined ? { code, message } : { code, message, details } };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/**
 * Turns fastify's validation entries (from the zod type provider: `instancePath` `/payload/url`) into
 * `body.payload.url`. A strict object's unknown key has an empty path; the key is named instead.
 */
export function validationIssues(context: string, entries: ValidationEntry[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const entry of entries) {
    const segments = (entry.instancePath ?? '').split('/').filter((s) => s !== '');
    const base = [context, ...segments].join('.');
    const keys = entry.params?.['keys'];
    if (entry.keyword === 'unrecognized_keys' && Array.isArray(keys) && keys.length > 0) {
      for (const key of keys) issues.push({ path: `${base}.${String(key)}`, message: 'Unrecognized key' });
      continue;
    }
    issues.push({ path: base, message: entry.message ?? 'Invalid value' });
  }
  return issues;
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/**
 * Postgres refusing a value it cannot store: a NUL or an unpaired surrogate (22P05, 22021), or
 * nesting too deep for its parser (54001). The contracts refuse these first, naming the field; this
 * is the backstop for a field they miss, so the caller still gets a 400 and not a 500.
 */
const UNSTORABLE_INPUT_CODES = new Set(['22P05', '22021', '54001']);

function isUnstorableInput(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNSTORABLE_INPUT_CODES.has(code);
}

/** True for errors that mean "Postgres is not reachable right now", as opposed to a bad statement. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (depth > 4 || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (CONNECTION_ERROR_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  if (typeof e.message === 'string') {
    const m = e.message;
    if (
      m.includes('Connection terminated') ||
      m.includes('timeout exceeded when trying to connect') ||
      m.includes('Client has encountered a connection error') ||
      m.includes('Cannot use a pool after calling end')
    ) {
      return true;
    }
  }
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}

/** 1048576 -> "1 MiB": the body limits are whole MiB or KiB. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** The HTTP status of each refusal of the intent store (its `code` is the answer's code as it is). */
const INTENT_ERROR_STATUS: Record<IntentError['code'], number> = {
  not_found: 404,
  invalid_state: 409,
  idempotency_conflict: 409,
  unknown_channel: 400,
  validation_failed: 400,
};

function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof IntentError)
    return sendError(reply, INTENT_ERROR_STATUS[error.code], error.code, error.message, error.details);
  if (error instanceof ApiError) {
    if (error.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendError(reply, error.status, error.code, error.message, error.details);
  }
  if (error instanceof ZodError) {
    // A schema checked inside a handler or service (e.g. a connector's payload schema).
    const issues = describeZodIssues(error);
    return sendError(reply, 400, 'validation_failed', formatIssues(issues), issues);
  }
  const err = error as MaybeFastifyError;
  if (Array.isArray(err.validation)) {
    const issues = validationIssues(err.validationContext ?? 'body', err.validation);
    return sendError(reply, 400, 'validation_failed', formatIssues(issues), issues);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return sendError(
        reply,
        413,
        'payload_too_large',
        `request body is larger than ${formatBytes(request.routeOptions.bodyLimit)}, the limit of ${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return sendError(
        reply,
        415,
        'bad_request',
        `unsupported content type ${JSON.stringify(request.headers['content-type'] ?? '')}: send application/json`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return sendError(reply, 400, 'bad_request', 'request body is empty but content-type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return sendError(reply, 400, 'bad_request', 'request body is not valid JSON');
    default:
      break;
  }
  if (err instanceof SyntaxError) return sendError(reply, 400, 'bad_request', 'request body is not valid JSON');
  if (isDatabaseUnavailable(err)) {
    request.log.warn({ err }, 'database unavailable');
    return sendError(reply, 503, 'unavailable', 'the database is unavailable; try again shortly');
  }
  if (isUnstorableInput(err)) {
    request.log.warn({ err }, 'the database refused a value of the request');
    return sendError(
      reply,
      400,
      'bad_request',
      'the request holds text the database cannot store (a NUL character or an unpaired surrogate) or nesting that is too deep',
    );
  }
  // Fastify's own client errors (bad URL, bad content-length, ...) carry a safe message and a 4xx.
  if (
    typeof err.code === 'string' &&
    err.code.startsWith('FST_ERR') &&
    typeof err.statusCode === 'number' &&
    err.statusCode >= 400 &&
    err.statusCode < 500
  ) {
    if (err.statusCode === 404) return sendError(reply, 404, 'not_found', err.message);
    if (err.statusCode === 413) return sendError(reply, 413, 'payload_too_large', err.message);
    return sendError(reply, err.statusCode, 'bad_request', err.message);
  }
  request.log.error({ err }, 'request failed');
  return sendError(reply, 500, 'internal', 'internal error; see the coordinator log');
}

/**
 * For fastify's `frameworkErrors` option: what fastify refuses before routing (a malformed %-escape
 * in the URL, an over-long path parameter) gets the same `{error: {code, message}}` body as the rest.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  handleError(error, request, reply);
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => handleError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
  );
}
