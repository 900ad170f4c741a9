import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';
import { HandoffApiError, type HandoffBackend } from './backend.ts';

export interface HttpBackendOptions {
  /** The coordinator, e.g. `http://127.0.0.1:18800` (HANDOFF_URL). */
  baseUrl: string;
  /** A bearer token; an `agent` token is all the tools need (HANDOFF_TOKEN). */
  token?: string;
  /** A PEM file of the CA that signed the coordinator's certificate (HANDOFF_CA), for https URLs. */
  caFile?: string;
  /** How long one request may take, ms. Default 30 s. */
  timeoutMs?: number;
}

/** The backend of `handoff mcp`: real HTTP requests to the coordinator (undici). */
export function createHttpBackend(options: HttpBackendOptions): HandoffBackend {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const dispatcher = options.caFile ? new Agent({ connect: { ca: readFileSync(options.caFile, 'utf8') } }) : undefined;
  return {
    async call(method, path, body) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      let res;
      try {
        res = await fetch(baseUrl + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
          ...(dispatcher ? { dispatcher } : {}),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const why = cause?.code ?? cause?.message ?? (err as Error).message;
        throw new HandoffApiError(0, 'coordinator_unreachable', `cannot reach the coordinator at ${baseUrl} (${why})`);
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed };
    },
  };
}
