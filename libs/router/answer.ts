import type { Logger } from 'pino';
import { ApiError } from '@handoff/contracts';
import type { FleetThresholds } from '@handoff/contracts';
import type { Committed } from './dispatch.ts';
import { NO_USAGE, parseObject, usageOf } from './json.ts';
import type { Json, Usage } from './json.ts';
import type { RouterMetrics } from './metrics.ts';
import { isErrorAnswer, normaliseAnswer, normaliseError, quirksFor } from './quirks.ts';
import type { StreamRewriter } from './streamRewriters.ts';
import type { UsageLog } from './usageLog.ts';
import { UpstreamError, readAll } from './upstream.ts';

/**
 * From a committed node's open answer to the client's answer: the routing headers, a whole answer
 * (normalised, translated, or a client error in OpenAI's shape), or a stream driven through a
 * rewriter; and the books of each request: one log line, the metrics, and a failure after the
 * first byte counted against the node unless the client went away.
 */

export interface RouterAnswer {
  status: number;
  headers: Record<string, string>;
  /** A whole body, or chunks to write as they come (streams). */
  body: Buffer | AsyncIterable<Buffer | string>;
}

/** What the request log line says besides the node's part. */
export interface RequestLog {
  api: 'chat' | 'responses';
  model: string;
  stream: boolean;
  promptTokensEstimate: number;
  /** false when the estimate is the byte bound (far below every context window, not tokenized). */
  promptTokensExact: boolean;
  started: number;
  /** Who asked (router_usage.token_name). */
  tokenName: string | null;
  debugBody?: unknown;
}

export interface AnswerDeps {
  metrics: RouterMetrics;
  log: Logger;
  /** The thresholds in force when a node fails mid-answer. */
  thresholds(): FleetThresholds;
  /** Where each request's row goes (router_usage); none: not recorded. */
  usage?: UsageLog;
}

/** router_usage's status for an outcome: the outcome as logged, but a client that went away is `client_aborted`. */
export function usageStatus(outcome: string): string {
  return outcome === 'cancelled' ? 'client_aborted' : outcome;
}

const JSON_TYPE = 'application/json; charset=utf-8';
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** `x-handoff-node`, `-model`, `-escalated`; an escalation is counted. */
export function routingHeaders(deps: AnswerDeps, c: Committed, model: string): Record<string, string> {
  const headers: Record<string, string> = {
    'x-handoff-node': c.server.node.id,
    'x-handoff-model': c.server.model.id,
    'x-handoff-escalated': c.escalated ?? 'no',
  };
  if (c.escalated) deps.metrics.escalation(model, c.server.model.id, c.escalated);
  return headers;
}

/** The request's one log line and its metrics, when its answer is complete (or failed, or was abandoned). */
function finishLog(deps: AnswerDeps, r: RequestLog, c: Committed, outcome: string, usage: Usage, error?: string): void {
  const node = c.server.node.id;
  const served = c.server.model.id;
  const totalMs = performance.now() - r.started;
  deps.metrics.request(node, served, outcome, c.opened.firstByteMs / 1000, totalMs / 1000);
  deps.metrics.tokens(node, served, usage.prompt, usage.completion);
  if (outcome !== 'ok' && outcome !== 'client_error' && outcome !== 'cancelled') deps.metrics.error(node, outcome);
  const line: Record<string, unknown> = {
    api: r.api,
    model: r.model,
    servedModel: served,
    node,
    escalated: c.escalated ?? 'no',
    stream: r.stream,
    promptTokensEstimate: r.promptTokensEstimate,
    promptTokensExact: r.promptTokensExact,
    promptTokens: usage.prompt,
    completionTokens: usage.completion,
    firstByteMs: Math.round(c.opened.firstByteMs),
    durationMs: Math.round(totalMs),
    outcome,
  };
  if (error) line['error'] = error;
  deps.usage?.record({
    at: new Date(Date.now() - totalMs),
    tokenName: r.tokenName,
    modelAsked: r.model,
    nodeId: node,
    modelUsed: served,
    escalations: c.passedOver,
    tokensIn: usage.prompt,
    tokensOut: usage.completion,
    ttfbMs: Math.round(c.firstByteAt - r.started),
    totalMs: Math.round(totalMs),
    status: usageStatus(outcome),
  });
  if (deps.log.isLevelEnabled('debug') && r.debugBody !== undefined) line['body'] = r.debugBody;
  deps.log.info(line, 'router request');
}

/**
 * A failure after the first byte: counted against the node unless the client went away first
 * (then the upstream call was aborted on purpose, and the outcome is `cancelled`).
 */
function failedAfterFirstByte(deps: AnswerDeps, c: Committed, err: unknown): { code: string; message: string } {
  if (c.signal?.aborted) return { code: 'cancelled', message: 'the client went away' };
  const e =
    err instanceof UpstreamError
      ? { code: err.kind, message: err.message }
      : { code: 'dropped', message: (err as Error).message ?? String(err) };
  c.runtime.health.recordFailure(e.message, deps.thresholds());
  return e;
}

/** The whole answer of a non-streamed request, or a client error passed on in OpenAI's shape. */
export async function wholeAnswer(
  deps: AnswerDeps,
  c: Committed,
  r: RequestLog,
  headers: Record<string, string>,
  transform?: (json: Json) => Json,
): Promise<RouterAnswer> {
  if (c.clientError) {
    finishLog(deps, r, c, 'client_error', NO_USAGE);
    return {
      status: c.opened.status,
      headers: { ...headers, 'content-type': JSON_TYPE },
      body: Buffer.from(JSON.stringify(normaliseError(c.opened.status, c.clientError))),
    };
  }
  let body: Buffer;
  try {
    body = await readAll(c.opened);
  } catch (err) {
    const e = failedAfterFirstByte(deps, c, err);
    finishLog(deps, r, c, e.code, NO_USAGE, e.message);
    if (e.code === 'cancelled') throw new ApiError(499, 'bad_request', 'the client went away');
    throw new ApiError(503, 'unavailable', `node ${c.server.node.id} failed while answering: ${e.message}`);
  }
  const json = parseObject(body);
  if (json && isErrorAnswer(json)) {
    // A 200 that carries an error (LM Studio answers unknown routes so): the client gets an error status.
    finishLog(deps, r, c, 'upstream_error', NO_USAGE, JSON.stringify(json['error']).slice(0, 300));
    return {
      status: 502,
      headers: { ...headers, 'content-type': JSON_TYPE },
      body: Buffer.from(JSON.stringify(normaliseError(502, body))),
    };
  }
  finishLog(deps, r, c, 'ok', usageOf(json));
  const normalise = quirksFor(c.server.node.kind).normalise;
  if (json && normalise) normaliseAnswer(json, { servedModel: c.server.model.id });
  if (transform) {
    if (!json)
      throw new ApiError(503, 'unavailable', `node ${c.server.node.id} answered with something other than JSON`);
    return {
      status: 200,
      headers: { ...headers, 'content-type': JSON_TYPE },
      body: Buffer.from(JSON.stringify(transform(json))),
    };
  }
  if (json && normalise)
    return {
      status: c.opened.status,
      headers: { ...headers, 'content-type': JSON_TYPE },
      body: Buffer.from(JSON.stringify(json)),
    };
  return {
    status: c.opened.status,
    headers: { ...headers, 'content-type': c.opened.contentType || 'application/json' },
    body,
  };
}

/**
 * The node's stream through `rewriter`, each chunk written as it comes. A failure mid-stream ends
 * the stream with the rewriter's error event (there is no failover after the first byte); a client
 * that goes away ends it silently, as `cancelled`.
 */
export async function* streamAnswer(
  deps: AnswerDeps,
  c: Committed,
  r: RequestLog,
  rewriter: StreamRewriter,
): AsyncGenerator<Buffer | string> {
  let outcome = 'cancelled';
  let error: string | undefined;
  try {
    const opening = rewriter.start();
    if (opening) yield opening;
    if (c.opened.first) {
      const out = await rewriter.push(c.opened.first);
      if (out.length > 0) yield out;
    }
    for await (const chunk of c.opened.rest) {
      const pushed = rewriter.push(chunk);
      // Only the normaliser's [DONE] may wait (a usage count); the others stay off the microtask queue.
      const out = pushed instanceof Promise ? await pushed : pushed;
      if (out.length > 0) yield out;
    }
    const closing = rewriter.end();
    if (closing) yield closing;
    outcome = 'ok';
  } catch (err) {
    const e = failedAfterFirstByte(deps, c, err);
    outcome = e.code;
    if (e.code === 'cancelled') return;
    error = e.message;
    yield rewriter.fail(e.code, `node ${c.server.node.id}: ${e.message}`);
  } finally {
    finishLog(deps, r, c, outcome, rewriter.usage(), error);
  }
}
