/**
 * What the tools call: handoff's own HTTP API, one request at a time. Both transports keep auth,
 * validation, idempotency and rate limits in the existing routes this way: `handoff mcp` (stdio)
 * sends real HTTP requests with HANDOFF_TOKEN (httpBackend.ts); `POST /mcp` on the coordinator
 * injects them into its own router with the caller's bearer token (apps/coordinator/routes/mcp.ts).
 */
export interface HandoffBackend {
  call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

/**
 * An answer of the API that is not a success, as the tools report it: handoff's stable error code
 * (`idempotency_conflict`, `validation_failed`, `not_found`, `forbidden`, ...) and its message.
 */
export class HandoffApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'HandoffApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function errorOf(status: number, body: unknown): HandoffApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (error && typeof error.code === 'string') {
    return new HandoffApiError(
      status,
      error.code,
      typeof error.message === 'string' ? error.message : error.code,
      error.details,
    );
  }
  return new HandoffApiError(status, `http_${status}`, `the coordinator answered HTTP ${status}`);
}

/** The answer's JSON on a 2xx, else a HandoffApiError carrying the API's code and message. */
export async function callApi(
  backend: HandoffBackend,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const answer = await backend.call(method, path, body);
  if (answer.status < 200 || answer.status >= 300) throw errorOf(answer.status, answer.body);
  return answer;
}

/**
 * Whether the backend's token is an operator's: only an operator may list tokens, so the answer of
 * `GET /v1/tokens` tells (200 operator, 403 agent or viewer). An agent should never hold one: an
 * operator token may approve what the agent proposes.
 */
export async function holdsOperatorToken(backend: HandoffBackend): Promise<boolean> {
  const answer = await backend.call('GET', '/v1/tokens');
  return answer.status === 200;
}
