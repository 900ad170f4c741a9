import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { CoordinatorError, CoordinatorTimeout, CoordinatorUnreachable } from './errors.ts';

/**
 * A small HTTP client for the coordinator, on node:http. The CLI starts a process per command, and
 * node:http costs nothing to load (undici takes about 0.3 s), has no "bad port" list (fetch refuses
 * ports such as 6000 or 10080) and reports socket errors by their code. It only turns transport
 * failures and error answers into typed errors; errors.ts decides what the operator reads.
 */

export interface ClientOptions {
  baseUrl: string;
  token?: string;
  /** How long the answer may stall once connected. Default 30 s. */
  timeoutMs?: number;
  /** How long connecting may take. Default 5 s. */
  connectTimeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

const CONNECT_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ETIMEDOUT: 'connection timed out',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
};

/** Set by #send when the connection stood but no (complete) answer came in time. */
const NO_ANSWER = 'HANDOFF_NO_ANSWER';

export class CoordinatorClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('PUT', path, body);
  }

  async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    let answer: { status: number; text: string };
    try {
      answer = await this.#send(new URL(this.baseUrl + path), { method, headers }, payload);
    } catch (err) {
      throw this.#transportError(err);
    }
    const parsed = parseJson(answer.text);
    if (answer.status >= 400) throw toCoordinatorError(answer.status, parsed, answer.text);
    return parsed as T;
  }

  async #send(url: URL, options: RequestOptions, payload: string | undefined): Promise<{ status: number; text: string }> {
    // TLS is loaded only when HANDOFF_URL asks for it.
    const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    return new Promise((resolve, reject) => {
      const fail = (code: string): void => {
        const err = new Error(code) as NodeJS.ErrnoException;
        err.code = code;
        req.destroy(err);
      };
      const connectTimer = setTimeout(() => fail('ETIMEDOUT'), this.#connectTimeoutMs);
      // agent: false: one connection per request, closed afterwards, so the process exits at once.
      const req = send(url, { ...options, agent: false }, (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('socket', (socket) => {
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
          clearTimeout(connectTimer);
          req.setTimeout(this.#timeoutMs, () => fail(NO_ANSWER));
        });
      });
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        reject(err);
      });
      req.on('close', () => clearTimeout(connectTimer));
      req.end(payload);
    });
  }

  #transportError(err: unknown): Error {
    const code = errorCode(err);
    if (code === NO_ANSWER) return new CoordinatorTimeout(this.baseUrl, Math.round(this.#timeoutMs / 1000));
    const reason = (code && CONNECT_REASONS[code]) ?? (code ? code : err instanceof Error ? err.message : String(err));
    return new CoordinatorUnreachable(this.baseUrl, reason);
  }
}

/** The code of a socket error, looking through wrappers (cause, AggregateError for dual-stack hosts). */
function errorCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const candidate = current as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof candidate.code === 'string') return candidate.code;
    current = candidate.cause ?? (Array.isArray(candidate.errors) ? candidate.errors[0] : undefined);
  }
  return undefined;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toCoordinatorError(status: number, parsed: unknown, text: string): CoordinatorError {
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.code === 'string') {
    const message = typeof error.message === 'string' && error.message ? error.message : `HTTP ${status}`;
    return new CoordinatorError(status, error.code, message, error.details);
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new CoordinatorError(status, `http_${status}`, snippet || `HTTP ${status} with no error body`);
}

/** Path segment helper: ids and scopes such as `x:@antifund` go into URLs encoded. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
