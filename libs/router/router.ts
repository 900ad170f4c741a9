import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ApiError } from '@handoff/contracts';
import type { ChatCompletionsBody, FleetConfig, ResponsesBody, RouterNodeStatus } from '@handoff/contracts';
import { modelNames, serversOf } from './fleet.ts';
import type { Server } from './fleet.ts';
import { NodeHealth, systemClock } from './health.ts';
import type { Clock } from './health.ts';
import { osMemoryReader } from './memory.ts';
import type { MemoryReader } from './memory.ts';
import { createRouterMetrics } from './metrics.ts';
import { ChatToResponsesStream, chatToResponse, responsesToChat } from './responses.ts';
import { isErrorAnswer, normaliseAnswer, normaliseError, quirksFor } from './quirks.ts';
import { SseParser, sseData } from './sse.ts';
import { sharedTokenCounter } from './tokenCounter.ts';
import type { TokenCounter, TokenizeFallback } from './tokenCounter.ts';
import { countChatTokens, countTextTokens, promptTokensForRouting, tokensNeeded } from './tokens.ts';
import { UpstreamError, agentFor, headersFor, openUpstream, readAll } from './upstream.ts';
import type { OpenedUpstream } from './upstream.ts';

/** Why a candidate was passed over or left: the value of `x-handoff-escalated`. */
export type SkipReason =
  | 'context_window'
  | 'quarantined'
  | 'breaker_open'
  | 'memory_pressure'
  | 'context_overflow'
  | 'rate_limited'
  | 'connect_failed'
  | 'first_byte_timeout'
  | 'idle_timeout'
  | 'dropped'
  | 'upstream_error'
  | 'unsupported';

export interface RouterAnswer {
  status: number;
  headers: Record<string, string>;
  /** A whole body, or chunks to write as they come (streams). */
  body: Buffer | AsyncIterable<Buffer | string>;
}

export interface RouterOptions {
  /** The fleet in force; called per request (a ConfigWatcher's `current`). */
  fleet: () => FleetConfig;
  log: Logger;
  clock?: Clock;
  /** Free memory in GB; default reads the OS. */
  memory?: MemoryReader;
  env?: NodeJS.ProcessEnv;
  /** How often to look for due probes, ms; 0 runs none (tests call `probeDue`). Default 1000. */
  probeCheckMs?: number;
  /** Counts tokens off the event loop; default the process's shared counter. */
  tokenCounter?: TokenCounter;
}

export interface Router {
  chatCompletions(body: ChatCompletionsBody, signal?: AbortSignal): Promise<RouterAnswer>;
  responses(body: ResponsesBody, signal?: AbortSignal): Promise<RouterAnswer>;
  /** GET /v1/models: every model id and alias of the fleet. */
  models(): { object: 'list'; data: { id: string; object: 'model'; created: number; owned_by: string }[] };
  nodes(): RouterNodeStatus[];
  /** Probes every node whose probe is due (GET {baseUrl}/models). */
  probeDue(): Promise<void>;
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}

interface NodeRuntime {
  health: NodeHealth;
  agent: Agent;
  /** The node's config as JSON: a changed node gets a new agent. */
  key: string;
}

interface Candidate {
  server: Server;
  runtime: NodeRuntime;
}

interface Attempted {
  node: string;
  reason: SkipReason;
  message?: string;
}

const PROBE_TIMEOUT_MS = 10_000;
const CONTEXT_OVERFLOW = /context|maximum.{0,40}length|too (long|many tokens)|exceeds/i;

export function createRouter(opts: RouterOptions): Router {
  const clock = opts.clock ?? systemClock;
  const memory = opts.memory ?? osMemoryReader();
  const env = opts.env ?? process.env;
  const metrics = createRouterMetrics();
  const counter = opts.tokenCounter ?? sharedTokenCounter();
  /** A count the tokenizer could not make in time or size is the byte bound: counted and logged. */
  const fellBack = (fallback: TokenizeFallback | undefined, where: string): void => {
    if (!fallback) return;
    metrics.tokenizerFallback(fallback);
    opts.log.warn({ fallback, where }, 'router: tokens counted by the byte bound (tokenizer cap)');
  };
  const runtimes = new Map<string, NodeRuntime>();
  let synced: FleetConfig | null = null;
  let probing: Promise<void> | null = null;

  /** Brings the per-node state in line with the fleet; a node that stays keeps its health. */
  function current(): FleetConfig {
    const fleet = opts.fleet();
    if (fleet === synced) return fleet;
    const seen = new Set<string>();
    for (const node of fleet.nodes) {
      seen.add(node.id);
      const key = JSON.stringify(node);
      const existing = runtimes.get(node.id);
      if (existing && existing.key === key) continue;
      if (existing) {
        existing.health.node = node;
        void existing.agent.close().catch(() => {});
        existing.agent = agentFor(node);
        existing.key = key;
      } else {
        runtimes.set(node.id, { health: new NodeHealth(node, clock), agent: agentFor(node), key });
      }
    }
    for (const [id, rt] of runtimes) {
      if (seen.has(id)) continue;
      rt.health.shutdown();
      void rt.agent.close().catch(() => {});
      runtimes.delete(id);
    }
    synced = fleet;
    return fleet;
  }

  /**
   * The candidates in the order they will be tried: the nodes serving the requested model, then the
   * models after it on the escalation chain (the whole chain when the model is not on it). Candidates
   * that cannot take the request are left out with the reason.
   */
  async function plan(fleet: FleetConfig, model: string, need: number): Promise<{ candidates: Candidate[]; skipped: Attempted[] }> {
    const primary = serversOf(fleet, model);
    if (primary.length === 0) throw new ApiError(404, 'not_found', `model ${JSON.stringify(model)} is not served by any node; GET /v1/models lists them`);
    const position = fleet.escalation.findIndex((name) => primary.some((s) => s.model.id === name || s.model.aliases.includes(name)));
    const chain = position >= 0 ? fleet.escalation.slice(position + 1) : fleet.escalation;
    const ordered: Server[] = [...primary];
    for (const name of chain) {
      for (const s of serversOf(fleet, name)) {
        if (!ordered.some((o) => o.node.id === s.node.id && o.model.id === s.model.id)) ordered.push(s);
      }
    }
    let freeGb: number | null | undefined;
    const candidates: Candidate[] = [];
    const skipped: Attempted[] = [];
    for (const server of ordered) {
      const runtime = runtimes.get(server.node.id);
      if (!runtime) continue;
      if (need > server.model.contextWindow) {
        skipped.push({ node: server.node.id, reason: 'context_window', message: `needs ${need} tokens, ${server.model.id} has ${server.model.contextWindow}` });
        continue;
      }
      const down = runtime.health.unavailable();
      if (down) {
        skipped.push({ node: server.node.id, reason: down });
        continue;
      }
      if (server.node.local) {
        if (freeGb === undefined) freeGb = await memory();
        if (freeGb !== null && freeGb < fleet.thresholds.memoryFloorGb) {
          skipped.push({ node: server.node.id, reason: 'memory_pressure', message: `${freeGb.toFixed(1)} GB free, floor ${fleet.thresholds.memoryFloorGb} GB` });
          continue;
        }
      }
      candidates.push({ server, runtime });
    }
    if (candidates.length === 0) {
      const onlyContext = skipped.every((s) => s.reason === 'context_window');
      if (onlyContext) {
        throw new ApiError(400, 'bad_request', `the request needs ${need} tokens (prompt with margin plus max_tokens); no model on the escalation path has a context window that large`, { skipped });
      }
      throw new ApiError(503, 'unavailable', `no node can take model ${JSON.stringify(model)} now`, { skipped });
    }
    return { candidates, skipped };
  }

  interface Committed {
    candidate: Candidate;
    opened: OpenedUpstream;
    escalated: SkipReason | null;
    /** A 4xx the client should see (not a reason to fail over). */
    clientError: Buffer | null;
    translate: boolean;
    /** The client's signal: a stream it abandons is not the node's failure. */
    signal: AbortSignal | undefined;
  }

  /**
   * Tries the candidates in order until one answers with a first byte. Failover happens only here,
   * before anything has been sent to the client.
   */
  async function dispatch(
    fleet: FleetConfig,
    model: string,
    need: number,
    build: (server: Server) => { path: string; body: string; translate: boolean },
    signal: AbortSignal | undefined,
  ): Promise<Committed> {
    const { candidates, skipped } = await plan(fleet, model, need);
    const attempts: Attempted[] = [...skipped];
    for (const candidate of candidates) {
      const { node } = candidate.server;
      const health = candidate.runtime.health;
      const request = build(candidate.server);
      let opened: OpenedUpstream & { unsupported?: string };
      try {
        opened = (await health.breaker.fire(async () => {
          const o = await openUpstream(node, candidate.runtime.agent, request.path, {
            method: 'POST',
            body: request.body,
            headers: headersFor(node, env, true),
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
        })) as OpenedUpstream & { unsupported?: string };
      } catch (err) {
        // 499 (nginx's "client closed request"): nobody reads it, but the log and metrics say what happened.
        if (signal?.aborted) throw new ApiError(499, 'bad_request', 'the client went away');
        const e = err instanceof UpstreamError ? err : new UpstreamError('upstream_error', (err as Error).message);
        const reason: SkipReason = (err as Error).message === 'Breaker is open' ? 'breaker_open' : e.kind;
        if (reason !== 'breaker_open') health.recordFailure(e.message, fleet.thresholds);
        metrics.error(node.id, reason);
        attempts.push({ node: node.id, reason, message: e.message });
        opts.log.warn({ node: node.id, model, reason, err: e.message }, 'router: node failed before the first byte; trying the next');
        continue;
      }
      if (opened.unsupported) {
        attempts.push({ node: node.id, reason: 'unsupported', message: opened.unsupported });
        opts.log.warn({ node: node.id, model, reason: 'unsupported', err: opened.unsupported }, 'router: node cannot take this request; trying the next');
        continue;
      }
      const escalated = attempts[0]?.reason ?? null;
      if (opened.status === 429 || opened.status === 400 || opened.status === 413) {
        const text = await readAll(opened).catch(() => Buffer.alloc(0));
        if (opened.status === 429) {
          metrics.error(node.id, 'rate_limited');
          attempts.push({ node: node.id, reason: 'rate_limited', message: text.toString('utf8').slice(0, 300) });
          continue;
        }
        if (CONTEXT_OVERFLOW.test(text.toString('utf8'))) {
          attempts.push({ node: node.id, reason: 'context_overflow', message: text.toString('utf8').slice(0, 300) });
          continue;
        }
        health.recordSuccess(opened.firstByteMs);
        return { candidate, opened, escalated, clientError: text, translate: request.translate, signal };
      }
      if (opened.status >= 400) {
        const text = await readAll(opened).catch(() => Buffer.alloc(0));
        health.recordSuccess(opened.firstByteMs);
        return { candidate, opened, escalated, clientError: text, translate: request.translate, signal };
      }
      health.recordSuccess(opened.firstByteMs);
      return { candidate, opened, escalated, clientError: null, translate: request.translate, signal };
    }
    // every node refused the prompt as too long: the request is too big, not the fleet down (a retry cannot help)
    if (attempts.length > 0 && attempts.every((a) => a.reason === 'context_overflow' || a.reason === 'context_window')) {
      throw new ApiError(400, 'bad_request', `the request is larger than the context window of every node that could serve model ${JSON.stringify(model)}`, { attempts });
    }
    throw new ApiError(503, 'unavailable', `every node that could serve model ${JSON.stringify(model)} failed`, { attempts });
  }

  function routingHeaders(c: Committed, model: string): Record<string, string> {
    const headers: Record<string, string> = {
      'x-handoff-node': c.candidate.server.node.id,
      'x-handoff-model': c.candidate.server.model.id,
      'x-handoff-escalated': c.escalated ?? 'no',
    };
    if (c.escalated) metrics.escalation(model, c.candidate.server.model.id, c.escalated);
    return headers;
  }

  interface RequestLog {
    api: 'chat' | 'responses';
    model: string;
    stream: boolean;
    promptTokensEstimate: number;
    /** false when the estimate is the byte bound (far below every context window, not tokenized). */
    promptTokensExact: boolean;
    started: number;
    debugBody?: unknown;
  }

  function finishLog(r: RequestLog, c: Committed, outcome: string, usage: { prompt: number | null; completion: number | null }, error?: string): void {
    const node = c.candidate.server.node.id;
    const served = c.candidate.server.model.id;
    const totalMs = performance.now() - r.started;
    metrics.request(node, served, outcome, c.opened.firstByteMs / 1000, totalMs / 1000);
    metrics.tokens(node, served, usage.prompt, usage.completion);
    if (outcome !== 'ok' && outcome !== 'client_error' && outcome !== 'cancelled') metrics.error(node, outcome);
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
    if (opts.log.isLevelEnabled('debug') && r.debugBody !== undefined) line['body'] = r.debugBody;
    opts.log.info(line, 'router request');
  }

  const usageOf = (json: unknown): { prompt: number | null; completion: number | null } => {
    const u = (json as { usage?: Record<string, unknown> } | null)?.usage;
    if (!u) return { prompt: null, completion: null };
    const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);
    return { prompt: n(u['prompt_tokens'] ?? u['input_tokens']), completion: n(u['completion_tokens'] ?? u['output_tokens']) };
  };

  const parse = (buf: Buffer): Record<string, unknown> | null => {
    try {
      return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };

  function errorCodeOf(err: unknown): { code: string; message: string } {
    if (err instanceof UpstreamError) return { code: err.kind, message: err.message };
    return { code: 'dropped', message: (err as Error).message ?? String(err) };
  }

  /**
   * A failure after the first byte: counted against the node unless the client went away first
   * (then the upstream call was aborted on purpose, and the outcome is `cancelled`).
   */
  function failedAfterFirstByte(c: Committed, err: unknown): { code: string; message: string } {
    if (c.signal?.aborted) return { code: 'cancelled', message: 'the client went away' };
    const e = errorCodeOf(err);
    c.candidate.runtime.health.recordFailure(e.message, current().thresholds);
    return e;
  }

  /** The whole answer of a non-streamed request, or a client error passed through as it came. */
  async function wholeAnswer(c: Committed, r: RequestLog, headers: Record<string, string>, transform?: (json: Record<string, unknown>) => Record<string, unknown>): Promise<RouterAnswer> {
    if (c.clientError) {
      finishLog(r, c, 'client_error', { prompt: null, completion: null });
      return { status: c.opened.status, headers: { ...headers, 'content-type': JSON_TYPE }, body: Buffer.from(JSON.stringify(normaliseError(c.opened.status, c.clientError))) };
    }
    let body: Buffer;
    try {
      body = await readAll(c.opened);
    } catch (err) {
      const e = failedAfterFirstByte(c, err);
      finishLog(r, c, e.code, { prompt: null, completion: null }, e.message);
      if (e.code === 'cancelled') throw new ApiError(499, 'bad_request', 'the client went away');
      throw new ApiError(503, 'unavailable', `node ${c.candidate.server.node.id} failed while answering: ${e.message}`);
    }
    const json = parse(body);
    if (json && isErrorAnswer(json)) {
      // A 200 that carries an error (LM Studio answers unknown routes so): the client gets an error status.
      finishLog(r, c, 'upstream_error', { prompt: null, completion: null }, JSON.stringify(json['error']).slice(0, 300));
      return { status: 502, headers: { ...headers, 'content-type': JSON_TYPE }, body: Buffer.from(JSON.stringify(normaliseError(502, body))) };
    }
    finishLog(r, c, 'ok', usageOf(json));
    if (json && quirksFor(c.candidate.server.node.kind).normalise) normaliseAnswer(json, { servedModel: c.candidate.server.model.id });
    if (transform) {
      if (!json) throw new ApiError(503, 'unavailable', `node ${c.candidate.server.node.id} answered with something other than JSON`);
      return { status: 200, headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(JSON.stringify(transform(json))) };
    }
    if (json && quirksFor(c.candidate.server.node.kind).normalise) return { status: c.opened.status, headers: { ...headers, 'content-type': JSON_TYPE }, body: Buffer.from(JSON.stringify(json)) };
    return { status: c.opened.status, headers: { ...headers, 'content-type': c.opened.contentType || 'application/json' }, body };
  }

  const JSON_TYPE = 'application/json; charset=utf-8';
  /** Fields of a stream chunk that normaliseAnswer or the usage bookkeeping act on (`"reasoning"` does not match `"reasoning_content"`). */
  const NEEDS_REWRITE = /"reasoning"|"error"|"usage"/;
  const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

  /** Chunks go out as they come; a failure mid-stream ends the stream with an error event. */
  async function* passthrough(c: Committed, r: RequestLog): AsyncGenerator<Buffer | string> {
    const parser = new SseParser();
    let usage = { prompt: null as number | null, completion: null as number | null };
    let outcome = 'cancelled';
    let error: string | undefined;
    const watch = (chunk: Buffer): void => {
      for (const ev of parser.push(chunk)) {
        if (ev.data.includes('"usage"')) {
          const u = usageOf(parse(Buffer.from(ev.data)));
          if (u.prompt !== null || u.completion !== null) usage = u;
        }
      }
    };
    try {
      if (c.opened.first) {
        watch(c.opened.first);
        yield c.opened.first;
      }
      for await (const chunk of c.opened.rest) {
        watch(chunk);
        yield chunk;
      }
      outcome = 'ok';
    } catch (err) {
      const e = failedAfterFirstByte(c, err);
      outcome = e.code;
      if (e.code === 'cancelled') return;
      error = e.message;
      yield sseData({ error: { code: e.code, message: `node ${c.candidate.server.node.id}: ${e.message}`, type: 'upstream_error' } });
    } finally {
      finishLog(r, c, outcome, usage, error);
    }
  }

  /**
   * A Chat Completions stream re-framed event by event with the node kind's quirks: model name,
   * reasoning field, error events in OpenAI's shape, the usage chunk dropped when only the router
   * asked for it, and estimated when the client asked and the node sent none.
   */
  async function* normalised(c: Committed, r: RequestLog, body: ChatCompletionsBody): AsyncGenerator<string> {
    const parser = new SseParser();
    const ctx = { servedModel: c.candidate.server.model.id };
    const modelTag = `"model":${JSON.stringify(ctx.servedModel)}`;
    const clientWantsUsage = (body['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
    let usage = { prompt: null as number | null, completion: null as number | null };
    let usageSeen = false;
    let written = '';
    let last: Record<string, unknown> | null = null;
    let outcome = 'cancelled';
    let error: string | undefined;
    const usageChunk = async (): Promise<string> => {
      // The node sent no usage: count the prompt and what was streamed with the router's tokenizer.
      const counted = await countChatTokens(counter, body.messages, body.tools);
      fellBack(counted.fallback, 'stream usage');
      const prompt = counted.tokens;
      const completion = await countTextTokens(counter, written);
      usage = { prompt, completion };
      const base = last ?? {};
      return sseData({ id: base['id'], object: 'chat.completion.chunk', created: base['created'], model: ctx.servedModel, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } });
    };
    const rewrite = async (chunk: Buffer): Promise<string> => {
      let out = '';
      for (const ev of parser.push(chunk)) {
        if (ev.data === '[DONE]') {
          if (clientWantsUsage && !usageSeen) out += await usageChunk();
          out += 'data: [DONE]\n\n';
          continue;
        }
        // Most chunks need nothing: already the right model name, no reasoning, error or usage field.
        // Those go out as they came, without a JSON round trip (which doubles the router's CPU per stream).
        if (!(clientWantsUsage && !usageSeen) && ev.data.includes(modelTag) && !NEEDS_REWRITE.test(ev.data)) {
          out += `data: ${ev.data}\n\n`;
          continue;
        }
        const json = parse(Buffer.from(ev.data));
        if (!json) {
          if (ev.data !== '') out += `data: ${ev.data}\n\n`;
          continue;
        }
        if (json['error'] !== undefined && !Array.isArray(json['choices'])) {
          out += sseData({ error: { ...(normaliseError(500, Buffer.from(ev.data))['error'] as object), type: 'upstream_error' } });
          continue;
        }
        if (json['usage']) {
          const u = usageOf(json);
          if (u.prompt !== null || u.completion !== null) {
            usage = u;
            usageSeen = true;
          }
          const choices = json['choices'];
          if (!clientWantsUsage && (!Array.isArray(choices) || choices.length === 0)) continue;
        }
        last = json;
        if (clientWantsUsage && !usageSeen) {
          for (const ch of (json['choices'] as { delta?: Record<string, unknown> }[] | undefined) ?? []) {
            const d = ch.delta ?? {};
            for (const k of ['content', 'reasoning_content', 'reasoning']) if (typeof d[k] === 'string') written += d[k];
            for (const t of (d['tool_calls'] as { function?: { arguments?: string } }[] | undefined) ?? []) written += t.function?.arguments ?? '';
          }
        }
        out += sseData(normaliseAnswer(json, ctx));
      }
      return out;
    };
    try {
      if (c.opened.first) {
        const out = await rewrite(c.opened.first);
        if (out) yield out;
      }
      for await (const chunk of c.opened.rest) {
        const out = await rewrite(chunk);
        if (out) yield out;
      }
      outcome = 'ok';
    } catch (err) {
      const e = failedAfterFirstByte(c, err);
      outcome = e.code;
      if (e.code === 'cancelled') return;
      error = e.message;
      yield sseData({ error: { code: e.code, message: `node ${c.candidate.server.node.id}: ${e.message}`, type: 'upstream_error' } });
    } finally {
      finishLog(r, c, outcome, usage, error);
    }
  }

  /** A Chat Completions stream, translated into Responses events as it comes. */
  async function* translated(c: Committed, r: RequestLog, body: ResponsesBody): AsyncGenerator<string> {
    const parser = new SseParser();
    const stream = new ChatToResponsesStream(body);
    let outcome = 'cancelled';
    let error: string | undefined;
    const translate = (chunk: Buffer): string => {
      let out = '';
      for (const ev of parser.push(chunk)) {
        if (ev.data === '[DONE]' || ev.data === '') continue;
        const json = parse(Buffer.from(ev.data));
        if (!json) continue;
        if (json['error']) throw new UpstreamError('upstream_error', JSON.stringify(json['error']).slice(0, 300));
        out += stream.push(normaliseAnswer(json, { servedModel: c.candidate.server.model.id }));
      }
      return out;
    };
    try {
      yield stream.start();
      if (c.opened.first) {
        const out = translate(c.opened.first);
        if (out) yield out;
      }
      for await (const chunk of c.opened.rest) {
        const out = translate(chunk);
        if (out) yield out;
      }
      yield stream.finish();
      outcome = 'ok';
    } catch (err) {
      const e = failedAfterFirstByte(c, err);
      outcome = e.code;
      if (e.code === 'cancelled') return;
      error = e.message;
      yield stream.fail(e.code, `node ${c.candidate.server.node.id}: ${e.message}`);
    } finally {
      const u = stream.usageSeen;
      finishLog(r, c, outcome, { prompt: u?.input_tokens ?? null, completion: u?.output_tokens ?? null }, error);
    }
  }

  /** The body sent to a node: its model id, the kind's request rewrites, usage asked for in streams when the kind can report it. */
  function chatRequest(server: Server, body: ChatCompletionsBody, stream: boolean): Record<string, unknown> {
    const quirks = quirksFor(server.node.kind);
    const out = quirks.request({ ...body, model: server.model.id });
    if (stream && quirks.askStreamUsage) out['stream_options'] = { ...(out['stream_options'] as object | undefined), include_usage: true };
    return out;
  }

  /** The smallest context window of the fleet, computed once per fleet object. */
  const smallest = new WeakMap<FleetConfig, number>();
  function smallestWindow(fleet: FleetConfig): number {
    let n = smallest.get(fleet);
    if (n === undefined) {
      n = Math.min(...fleet.nodes.flatMap((node) => node.models.map((m) => m.contextWindow)));
      smallest.set(fleet, n);
    }
    return n;
  }

  function maxTokensOf(value: unknown, fallback: number): number {
    return typeof value === 'number' ? value : fallback;
  }

  const router: Router = {
    async chatCompletions(body, signal) {
      const started = performance.now();
      const fleet = current();
      const maxTokens = maxTokensOf(body.max_completion_tokens ?? body.max_tokens, fleet.thresholds.defaultMaxTokens);
      const { prompt, exact, fallback } = await promptTokensForRouting(counter, body.messages, body.tools, fleet.thresholds.tokenMarginPct, maxTokens, smallestWindow(fleet));
      fellBack(fallback, 'chat completions prompt');
      const need = tokensNeeded(prompt, fleet.thresholds.tokenMarginPct, maxTokens);
      const stream = body.stream === true;
      const c = await dispatch(fleet, body.model, need, (server) => ({ path: '/chat/completions', body: JSON.stringify(chatRequest(server, body, stream)), translate: false }), signal);
      const r: RequestLog = { api: 'chat', model: body.model, stream, promptTokensEstimate: prompt, promptTokensExact: exact, started, debugBody: body.messages };
      const headers = routingHeaders(c, body.model);
      if (!stream || c.clientError) return wholeAnswer(c, r, headers);
      const quirky = quirksFor(c.candidate.server.node.kind).normalise;
      return { status: c.opened.status, headers: { ...headers, ...SSE_HEADERS }, body: quirky ? normalised(c, r, body) : passthrough(c, r) };
    },

    async responses(body, signal) {
      const started = performance.now();
      const fleet = current();
      const chat = responsesToChat(body);
      const maxTokens = maxTokensOf(body.max_output_tokens, fleet.thresholds.defaultMaxTokens);
      const { prompt, exact, fallback } = await promptTokensForRouting(counter, chat['messages'] as Record<string, unknown>[], chat['tools'] as unknown[] | undefined, fleet.thresholds.tokenMarginPct, maxTokens, smallestWindow(fleet));
      fellBack(fallback, 'responses prompt');
      const need = tokensNeeded(prompt, fleet.thresholds.tokenMarginPct, maxTokens);
      const stream = body.stream === true;
      const c = await dispatch(
        fleet,
        body.model,
        need,
        (server) =>
          server.node.responses
            ? { path: '/responses', body: JSON.stringify({ ...body, model: server.model.id }), translate: false }
            : { path: '/chat/completions', body: JSON.stringify(quirksFor(server.node.kind).request({ ...chat, model: server.model.id })), translate: true },
        signal,
      );
      const r: RequestLog = { api: 'responses', model: body.model, stream, promptTokensEstimate: prompt, promptTokensExact: exact, started, debugBody: body.input };
      const headers = { ...routingHeaders(c, body.model), 'x-handoff-translated': c.translate ? 'chat_completions' : 'no' };
      if (!c.translate) {
        if (!stream || c.clientError) return wholeAnswer(c, r, headers);
        return { status: c.opened.status, headers: { ...headers, ...SSE_HEADERS }, body: passthrough(c, r) };
      }
      if (!stream || c.clientError) return wholeAnswer(c, r, headers, c.clientError ? undefined : (json) => ({ ...chatToResponse(json, body), model: body.model }));
      return { status: 200, headers: { ...headers, ...SSE_HEADERS }, body: translated(c, r, body) };
    },

    models() {
      const names = modelNames(current());
      return {
        object: 'list',
        data: [...names].map(([id, owners]) => ({ id, object: 'model' as const, created: 0, owned_by: owners.join(',') })),
      };
    },

    nodes() {
      current();
      return [...runtimes.values()].map((rt) => rt.health.status());
    },

    probeDue() {
      probing ??= (async () => {
        const fleet = current();
        const due = [...runtimes.values()].filter((rt) => clock.now() >= rt.health.nextProbeAt);
        await Promise.all(
          due.map(async (rt) => {
            const node = rt.health.node;
            const started = performance.now();
            const signal = AbortSignal.timeout(Math.min(PROBE_TIMEOUT_MS, node.timeouts.firstByteMs));
            try {
              const o = await openUpstream(node, rt.agent, '/models', { method: 'GET', headers: headersFor(node, env, false), signal });
              await readAll(o, 4 * 1024 * 1024);
              const ok = o.status >= 200 && o.status < 300;
              rt.health.recordProbe(ok, performance.now() - started, ok ? null : `probe: HTTP ${o.status}`, fleet.thresholds);
            } catch (err) {
              rt.health.recordProbe(false, 0, `probe: ${(err as Error).message}`, fleet.thresholds);
            }
            if (rt.health.state === 'quarantined') opts.log.warn({ node: node.id, lastError: rt.health.lastError }, 'router: node quarantined');
          }),
        );
      })().finally(() => {
        probing = null;
      });
      return probing;
    },

    registerMetrics(registry) {
      metrics.register(registry, () => [...runtimes.values()].map((rt) => rt.health));
    },

    async close() {
      clearInterval(timer);
      await probing?.catch(() => {});
      for (const rt of runtimes.values()) {
        rt.health.shutdown();
        await rt.agent.close().catch(() => {});
      }
      runtimes.clear();
    },
  };

  const checkMs = opts.probeCheckMs ?? 1000;
  const timer =
    checkMs > 0
      ? setInterval(() => {
          router.probeDue().catch((err: unknown) => opts.log.warn({ err }, 'router: probing failed'));
        }, checkMs).unref()
      : undefined;
  return router;
}
