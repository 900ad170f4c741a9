import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { FleetNode } from '@handoff/contracts';

/**
 * One HTTP call to a node with the timeouts that suit local models: a deadline for the first byte
 * of the body (a long prefill is normal) and an idle limit between chunks, never one total deadline.
 * undici's own headersTimeout/bodyTimeout are set from the same numbers (its 300 s defaults never
 * apply); the router's timers below are the precise ones.
 */

export type UpstreamFailure = 'connect_failed' | 'first_byte_timeout' | 'idle_timeout' | 'dropped' | 'upstream_error';

export class UpstreamError extends Error {
  readonly kind: UpstreamFailure;
  readonly status: number | null;
  constructor(kind: UpstreamFailure, message: string, status: number | null = null) {
    super(message);
    this.name = 'UpstreamError';
    this.kind = kind;
    this.status = status;
  }
}

export function agentFor(node: FleetNode): Agent {
  const { firstByteMs, idleMs, connectMs } = node.timeouts;
  return new Agent({
    headersTimeout: firstByteMs,
    bodyTimeout: Math.max(firstByteMs, idleMs),
    connect: { timeout: connectMs },
    keepAliveTimeout: 10_000,
  });
}

export function upstreamUrl(node: FleetNode, path: string): string {
  return node.baseUrl.replace(/\/+$/, '') + path;
}

export function headersFor(node: FleetNode, env: NodeJS.ProcessEnv, json: boolean): Record<string, string> {
  const headers: Record<string, string> = { accept: json ? 'application/json, text/event-stream' : '*/*' };
  if (json) headers['content-type'] = 'application/json';
  const key = node.apiKeyEnv ? env[node.apiKeyEnv] : undefined;
  if (key) headers['authorization'] = `Bearer ${key}`;
  return headers;
}

export interface OpenedUpstream {
  status: number;
  contentType: string;
  /** The first chunk of the body, or null for an empty body. */
  first: Buffer | null;
  /** The rest of the body, chunk by chunk; throws UpstreamError on an idle timeout or a dropped connection. */
  rest: AsyncGenerator<Buffer, void, undefined>;
  /** Milliseconds from sending the request to the first byte of the body. */
  firstByteMs: number;
}

function classify(err: unknown, reason: unknown): UpstreamError {
  if (reason instanceof UpstreamError) return reason;
  if (err instanceof UpstreamError) return err;
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  const message = e.message ?? String(err);
  if (code === 'UND_ERR_HEADERS_TIMEOUT')
    return new UpstreamError('first_byte_timeout', 'no answer before the first-byte timeout');
  if (code === 'UND_ERR_BODY_TIMEOUT')
    return new UpstreamError('idle_timeout', 'the answer stalled longer than the idle timeout');
  if (
    ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code)
  ) {
    return new UpstreamError('connect_failed', `cannot connect: ${code}`);
  }
  return new UpstreamError('dropped', `connection failed: ${code || message}`);
}

/**
 * Sends the request and waits for the first byte of the body (or its end). Before that point every
 * failure is an UpstreamError and the caller may fail over; afterwards the caller owns `rest`.
 */
export async function openUpstream(
  node: FleetNode,
  agent: Dispatcher,
  path: string,
  init: { method: 'GET' | 'POST'; body?: string; headers: Record<string, string>; signal?: AbortSignal },
): Promise<OpenedUpstream> {
  const controller = new AbortController();
  const onCallerAbort = (): void => controller.abort(new UpstreamError('dropped', 'the client went away'));
  init.signal?.addEventListener('abort', onCallerAbort, { once: true });
  const started = performance.now();
  const timer = setTimeout(
    () =>
      controller.abort(new UpstreamError('first_byte_timeout', `no first byte within ${node.timeouts.firstByteMs} ms`)),
    node.timeouts.firstByteMs,
  );
  let res: Dispatcher.ResponseData;
  let first: IteratorResult<Buffer>;
  let iterator: AsyncIterator<Buffer>;
  try {
    res = await request(upstreamUrl(node, path), {
      method: init.method,
      headers: init.headers,
      body: init.body ?? null,
      dispatcher: agent,
      signal: controller.signal,
    });
    iterator = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    first = await iterator.next();
  } catch (err) {
    clearTimeout(timer);
    init.signal?.removeEventListener('abort', onCallerAbort);
    throw classify(err, controller.signal.reason);
  }
  clearTimeout(timer);
  const firstByteMs = performance.now() - started;
  const body = res.body;
  const idleMs = node.timeouts.idleMs;

  async function* rest(): AsyncGenerator<Buffer, void, undefined> {
    let done = first.done === true;
    try {
      while (!done) {
        // The idle clock runs only while waiting for the node, never while a slow client holds us at `yield`.
        const idle = setTimeout(
          () => controller.abort(new UpstreamError('idle_timeout', `no chunk for ${idleMs} ms`)),
          idleMs,
        );
        let next: IteratorResult<Buffer>;
        try {
          next = await iterator.next();
        } catch (err) {
          throw classify(err, controller.signal.reason);
        } finally {
          clearTimeout(idle);
        }
        if (next.done) {
          done = true;
          return;
        }
        yield next.value;
      }
    } finally {
      init.signal?.removeEventListener('abort', onCallerAbort);
      if (!done) body.destroy();
    }
  }

  const contentType = String(res.headers['content-type'] ?? '');
  return { status: res.statusCode, contentType, first: first.done ? null : first.value, rest: rest(), firstByteMs };
}

/** The whole body of an opened answer (non-streamed requests, error bodies). */
export async function readAll(opened: OpenedUpstream, limitBytes = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = opened.first ? [opened.first] : [];
  let size = opened.first?.length ?? 0;
  for await (const chunk of opened.rest) {
    size += chunk.length;
    if (size > limitBytes) throw new UpstreamError('upstream_error', `answer larger than ${limitBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
