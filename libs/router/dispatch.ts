import type { Logger } from 'pino';
import { ApiError } from '@handoff/contracts';
import type { FleetConfig } from '@handoff/contracts';
import type { Server } from './fleet.ts';
import type { RouterMetrics } from './metrics.ts';
import type { Attempted, SkipReason } from './plan.ts';
import { quirksFor } from './quirks.ts';
import type { NodeRuntime } from './runtime.ts';
import { UpstreamError, headersFor, openUpstream, readAll } from './upstream.ts';
import type { OpenedUpstream } from './upstream.ts';

/**
 * Sends a request to the planned candidates in order until one answers with a first byte. Failover
 * happens only here, before anything has been sent to the client; what a node does after its first
 * byte is answer.ts's concern.
 */

/** What goes to one node: built per candidate (its model id, its kind's rewrites). */
export interface UpstreamCall {
  path: string;
  body: string;
  /** A Chat Completions call standing in for a Responses request (answer.ts translates back). */
  translate: boolean;
}

/** The node that answered, with its open answer: from here on, no failover. */
export interface Committed {
  server: Server;
  runtime: NodeRuntime;
  opened: OpenedUpstream;
  /** Why the first candidate did not serve (`x-handoff-escalated`), or null when it did. */
  escalated: SkipReason | null;
  /** A 4xx the client should see (not a reason to fail over), read whole. */
  clientError: Buffer | null;
  translate: boolean;
  /** The client's signal: a stream it abandons is not the node's failure. */
  signal: AbortSignal | undefined;
  /** performance.now() when the node's first byte was in hand (the request's TTFB on record). */
  firstByteAt: number;
  /** Nodes passed over before this one (by the plan, or failed before a first byte). */
  passedOver: number;
}

export interface DispatchDeps {
  node(id: string): NodeRuntime | undefined;
  env: NodeJS.ProcessEnv;
  metrics: RouterMetrics;
  log: Logger;
}

/** A 400/413 that says the prompt is too long for the node (its tokenizer counted more than ours). */
const CONTEXT_OVERFLOW = /context|maximum.{0,40}length|too (long|many tokens)|exceeds/i;

type Opened = OpenedUpstream & { unsupported?: string };

/**
 * Tries `planned.candidates` in order. A node is left for the next on a connection failure, no first
 * byte in time, a 5xx, a 429, a context overflow, or a 5xx its kind marks as "cannot take this
 * request"; any other answer commits. When every candidate is left: 400 if each was too small, 503
 * otherwise, with the attempts.
 */
export async function dispatch(
  deps: DispatchDeps,
  fleet: FleetConfig,
  model: string,
  planned: { candidates: Server[]; skipped: Attempted[] },
  build: (server: Server) => UpstreamCall,
  signal: AbortSignal | undefined,
): Promise<Committed> {
  const attempts: Attempted[] = [...planned.skipped];
  for (const server of planned.candidates) {
    const runtime = deps.node(server.node.id);
    if (!runtime) continue;
    const { node } = server;
    const health = runtime.health;
    const request = build(server);
    let opened: Opened;
    try {
      opened = (await health.breaker.fire(async (): Promise<Opened> => {
        const o = await openUpstream(node, runtime.agent, request.path, {
          method: 'POST',
          body: request.body,
          headers: headersFor(node, deps.env, true),
          signal,
        });
        if (o.status >= 500) {
          const text = (await readAll(o).catch(() => Buffer.alloc(0))).toString('utf8').slice(0, 500);
          // The node is up but cannot take this request (its configuration): not a failure of the node.
          const unsupported = quirksFor(node.kind).unsupported(o.status, text);
          if (unsupported) return { ...o, unsupported: `HTTP ${o.status}: ${unsupported}: ${text}` };
          throw new UpstreamError('upstream_error', `HTTP ${o.status}: ${text}`, o.status);
        }
        return o;
      })) as Opened;
    } catch (err) {
      // 499 (nginx's "client closed request"): nobody reads it, but the log and metrics say what happened.
      if (signal?.aborted) throw new ApiError(499, 'bad_request', 'the client went away');
      const e = err instanceof UpstreamError ? err : new UpstreamError('upstream_error', (err as Error).message);
      const reason: SkipReason = (err as Error).message === 'Breaker is open' ? 'breaker_open' : e.kind;
      if (reason !== 'breaker_open') health.recordFailure(e.message, fleet.thresholds);
      deps.metrics.error(node.id, reason);
      attempts.push({ node: node.id, reason, message: e.message });
      deps.log.warn(
        { node: node.id, model, reason, err: e.message },
        'router: node failed before the first byte; trying the next',
      );
      continue;
    }
    if (opened.unsupported) {
      attempts.push({ node: node.id, reason: 'unsupported', message: opened.unsupported });
      deps.log.warn(
        { node: node.id, model, reason: 'unsupported', err: opened.unsupported },
        'router: node cannot take this request; trying the next',
      );
      continue;
    }
    const escalated = attempts[0]?.reason ?? null;
    const commit = (clientError: Buffer | null): Committed => {
      health.recordSuccess(opened.firstByteMs);
      return {
        server,
        runtime,
        opened,
        escalated,
        clientError,
        translate: request.translate,
        signal,
        firstByteAt: performance.now(),
        passedOver: attempts.length,
      };
    };
    if (opened.status === 429 || opened.status === 400 || opened.status === 413) {
      const text = await readAll(opened).catch(() => Buffer.alloc(0));
      if (opened.status === 429) {
        deps.metrics.error(node.id, 'rate_limited');
        attempts.push({ node: node.id, reason: 'rate_limited', message: text.toString('utf8').slice(0, 300) });
        continue;
      }
      if (CONTEXT_OVERFLOW.test(text.toString('utf8'))) {
        attempts.push({ node: node.id, reason: 'context_overflow', message: text.toString('utf8').slice(0, 300) });
        continue;
      }
      return commit(text);
    }
    if (opened.status >= 400) return commit(await readAll(opened).catch(() => Buffer.alloc(0)));
    return commit(null);
  }
  // every node refused the prompt as too long: the request is too big, not the fleet down (a retry cannot help)
  if (attempts.length > 0 && attempts.every((a) => a.reason === 'context_overflow' || a.reason === 'context_window')) {
    throw new ApiError(
      400,
      'bad_request',
      `the request is larger than the context window of every node that could serve model ${JSON.stringify(model)}`,
      { attempts },
    );
  }
  throw new ApiError(503, 'unavailable', `every node that could serve model ${JSON.stringify(model)} failed`, {
    attempts,
  });
}
