import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { z } from 'zod';
import { CoordinatorError, CoordinatorTimeout, CoordinatorUnreachable } from './errors.ts';

/**
 * The wire under the CLI's client (client.ts): requests to the coordinator on node:http. The CLI
 * starts a process per command, and node:http costs nothing to load (undici takes about 0.3 s), has
 * no "bad port" list (fetch refuses ports such as 6000 or 10080) and reports socket errors by their
 * code. It only turns transport failures and error answers into typed errors and answers into
 * `unknown` JSON; client.ts checks them against the contracts, errors.ts decides what the operator reads.
 */

export interface HttpOptions {
  baseUrl: string;
  token?: string;
  /** How long the answer may stall once connected. Default 30 s. */
  timeoutMs?: number;
  /** How long connecting may take. Default 5 s. */
  connectTimeoutMs?: number;
  /**
   * PEM: the only CA an https coordinator's certificate may chain to (HANDOFF_CA, or the one
   * `handoff login` pinned); without it the system's CAs.
   */
  ca?: string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

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
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate not trusted (set HANDOFF_CA, or run handoff login)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS certificate not trusted (set HANDOFF_CA, or run handoff login)',
  EPROTO: 'TLS handshake failed (is it an https:// address?)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
};

/** Set by #send when the connection stood but no (complete) answer came in time. */
const NO_ANSWER = 'HANDOFF_NO_ANSWER';

export class CoordinatorHttp {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #ca: string | undefined;

  constructor(options: HttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#ca = options.ca;
  }

  /** The answer's JSON (undefined when it has none), or the error it stands for. */
  async call(method: Method, path: string, body?: unknown): Promise<unknown> {
    const { headers, payload } = this.#request(body, 'application/json');
    let answer: { status: number; text: string };
    try {
      answer = await this.#send(new URL(this.baseUrl + path), { method, headers }, payload);
    } catch (err) {
      throw this.#transportError(err);
    }
    const parsed = parseJson(answer.text);
    if (answer.status >= 400) throw toCoordinatorError(answer.status, parsed, answer.text);
    return parsed;
  }

  /**
   * A POST whose answer is a stream (`text/event-stream`): the response once its status is known,
   * to be read for as long as it lasts (no answer timeout; connecting still has one).
   */
  async stream(path: string, body: unknown): Promise<IncomingMessage> {
    const { headers, payload } = this.#request(body, 'text/event-stream');
    const url = new URL(this.baseUrl + path);
    let res: IncomingMessage;
    try {
      res = await this.#open(url, { method: 'POST', headers }, payload, false);
    } catch (err) {
      throw this.#transportError(err);
    }
    if ((res.statusCode ?? 0) >= 400) {
      let text = '';
      res.setEncoding('utf8');
      for await (const chunk of res) text += String(chunk);
      throw toCoordinatorError(res.statusCode ?? 0, parseJson(text), text);
    }
    return res;
  }

  #request(body: unknown, accept: string): { headers: Record<string, string>; payload: string | undefined } {
    const headers: Record<string, string> = { accept };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return { headers, payload };
  }

  async #send(
    url: URL,
    options: RequestOptions,
    payload: string | undefined,
  ): Promise<{ status: number; text: string }> {
    const res = await this.#open(url, options, payload, true);
    return new Promise((resolve, reject) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
  }

  /** Sends the request; `answerTimeout`: the answer may not stall longer than the timeout once connected. */
  async #open(
    url: URL,
    options: RequestOptions,
    payload: string | undefined,
    answerTimeout: boolean,
  ): Promise<IncomingMessage> {
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
      const tls = url.protocol === 'https:' && this.#ca !== undefined ? { ca: this.#ca } : {};
      const req = send(url, { ...options, ...tls, agent: false }, resolve);
      req.on('socket', (socket) => {
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
          clearTimeout(connectTimer);
          if (answerTimeout) req.setTimeout(this.#timeoutMs, () => fail(NO_ANSWER));
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

/**
 * How an error answer is read: the API's `{error: {code, message, details?}}` (ApiErrorBody), taken
 * loosely, so that a code this CLI does not know yet, or a proxy's page, still reads as an error.
 */
const ErrorAnswer = z.object({
  error: z.object({
    code: z.string(),
    message: z.string().optional().catch(undefined),
    details: z.unknown().optional(),
  }),
});

function toCoordinatorError(status: number, parsed: unknown, text: string): CoordinatorError {
  const answer = ErrorAnswer.safeParse(parsed);
  if (answer.success) {
    const { code, message, details } = answer.data.error;
    return new CoordinatorError(status, code, message || `HTTP ${status}`, details);
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new CoordinatorError(status, `http_${status}`, snippet || `HTTP ${status} with no error body`);
}
