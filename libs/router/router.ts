import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ApiError } from '@handoff/contracts';
import type { ChatCompletionsBody, FleetConfig, ResponsesBody, RouterNodeStatus } from '@handoff/contracts';
import { SSE_HEADERS, routingHeaders, streamAnswer, wholeAnswer } from './answer.ts';
import type { AnswerDeps, RequestLog, RouterAnswer } from './answer.ts';
import { dispatch } from './dispatch.ts';
import type { Committed, DispatchDeps, UpstreamCall } from './dispatch.ts';
import { modelNames } from './fleet.ts';
import type { Server } from './fleet.ts';
import { systemClock } from './health.ts';
import type { Clock } from './health.ts';
import { osMemoryReader } from './memory.ts';
import type { MemoryReader } from './memory.ts';
import { createRouterMetrics } from './metrics.ts';
import { plan, readsMemory } from './plan.ts';
import type { Attempted } from './plan.ts';
import { createProber } from './probe.ts';
import { quirksFor } from './quirks.ts';
import { chatCall, responsesCall } from './requests.ts';
import { chatToResponse, responsesToChat } from './responses.ts';
import type { NodeStateStore } from './nodeStateStore.ts';
import { createFleetRuntime } from './runtime.ts';
import { chatNormaliser, clientWantsUsage, passthroughRewriter, responsesTranslator } from './streamRewriters.ts';
import { sharedTokenCounter } from './tokenCounter.ts';
import type { TokenCounter, TokenizeFallback } from './tokenCounter.ts';
import { countChatTokens, countTextTokens, promptTokensForRouting, tokensNeeded } from './tokens.ts';
import { toolCallPlan, toolCallsInAnswer, toolCallsInResponse } from './toolCalls/index.ts';
import type { UsageLog } from './usageLog.ts';

/**
 * The model router: the composition of its parts, each with one job: the fleet runtime
 * (runtime.ts: per-node health and pools), the pure plan (plan.ts: which nodes, in which order),
 * dispatch (dispatch.ts: failover before the first byte), the answers and stream rewriters
 * (answer.ts, streamRewriters.ts) and probing (probe.ts). What is left here is sizing a request
 * and wiring those together per API.
 */

export type { RouterAnswer } from './answer.ts';
export type { SkipReason } from './plan.ts';

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
  /** Quarantine and breaker on record (router_node_state); none: kept in memory only. Closed by the router. */
  nodeState?: NodeStateStore;
  /** A row per request (router_usage); none: not recorded. Flushed and closed by the router. */
  usage?: UsageLog;
}

/** Who a request is for: its row in router_usage names the token. */
export interface RouteCaller {
  tokenName: string | null;
}

export interface Router {
  chatCompletions(body: ChatCompletionsBody, signal?: AbortSignal, caller?: RouteCaller): Promise<RouterAnswer>;
  responses(body: ResponsesBody, signal?: AbortSignal, caller?: RouteCaller): Promise<RouterAnswer>;
  /** GET /v1/models: every model id and alias of the fleet. */
  models(): { object: 'list'; data: { id: string; object: 'model'; created: number; owned_by: string }[] };
  nodes(): RouterNodeStatus[];
  /** Probes every node whose probe is due (GET {baseUrl}/models). */
  probeDue(): Promise<void>;
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}

/** The smallest context window of each fleet object: a prompt that fits it needs no exact count. */
const smallest = new WeakMap<FleetConfig, number>();
function smallestWindow(fleet: FleetConfig): number {
  let n = smallest.get(fleet);
  if (n === undefined) {
    n = Math.min(...fleet.nodes.flatMap((node) => node.models.map((m) => m.contextWindow)));
    smallest.set(fleet, n);
  }
  return n;
}

export function createRouter(opts: RouterOptions): Router {
  const clock = opts.clock ?? systemClock;
  const memory = opts.memory ?? osMemoryReader();
  const env = opts.env ?? process.env;
  const log = opts.log;
  const metrics = createRouterMetrics();
  const counter = opts.tokenCounter ?? sharedTokenCounter();
  const runtime = createFleetRuntime(opts.fleet, clock, opts.nodeState);
  const usage = opts.usage;
  const prober = createProber({ runtime, clock, env, log, checkMs: opts.probeCheckMs ?? 1000 });
  const dispatchDeps: DispatchDeps = { node: (id) => runtime.node(id), env, metrics, log };
  const answers: AnswerDeps = { metrics, log, thresholds: () => runtime.current().thresholds, usage };

  /** A count the tokenizer could not make in time or size is the byte bound: counted and logged. */
  const fellBack = (fallback: TokenizeFallback | undefined, where: string): void => {
    if (!fallback) return;
    metrics.tokenizerFallback(fallback);
    log.warn({ fallback, where }, 'router: tokens counted by the byte bound (tokenizer cap)');
  };

  /** The prompt's size for routing, and the tokens the request needs with its answer. */
  async function size(
    fleet: FleetConfig,
    messages: readonly Record<string, unknown>[],
    tools: readonly unknown[] | undefined,
    maxTokens: unknown,
    where: string,
  ): Promise<{ prompt: number; exact: boolean; need: number }> {
    const { tokenMarginPct, defaultMaxTokens } = fleet.thresholds;
    const allowance = typeof maxTokens === 'number' ? maxTokens : defaultMaxTokens;
    const { prompt, exact, fallback } = await promptTokensForRouting(
      counter,
      messages,
      tools,
      tokenMarginPct,
      allowance,
      smallestWindow(fleet),
    );
    fellBack(fallback, where);
    return { prompt, exact, need: tokensNeeded(prompt, tokenMarginPct, allowance) };
  }

  /**
   * Plans against the fleet's state now and dispatches to the first candidate that answers. A
   * request no node took is recorded here (one that was taken is recorded when its answer ends).
   */
  async function route(
    fleet: FleetConfig,
    model: string,
    need: number,
    build: (server: Server) => UpstreamCall,
    signal: AbortSignal | undefined,
    asked: { started: number; tokenName: string | null },
  ): Promise<Committed> {
    try {
      const freeGb = readsMemory(fleet) ? await memory() : null;
      const planned = plan({ model, need }, runtime.snapshot(fleet, freeGb));
      if (!planned.ok) throw planned.refusal;
      return await dispatch(dispatchDeps, fleet, model, planned, build, signal);
    } catch (err) {
      if (usage) {
        const details =
          err instanceof ApiError ? (err.details as { attempts?: Attempted[]; skipped?: Attempted[] }) : {};
        const passed = details?.attempts ?? details?.skipped ?? [];
        const totalMs = performance.now() - asked.started;
        usage.record({
          at: new Date(Date.now() - totalMs),
          tokenName: asked.tokenName,
          modelAsked: model,
          nodeId: passed.at(-1)?.node ?? null,
          modelUsed: null,
          escalations: Math.max(0, passed.length - 1),
          tokensIn: null,
          tokensOut: null,
          ttfbMs: null,
          totalMs: Math.round(totalMs),
          status: err instanceof ApiError ? (err.status === 499 ? 'client_aborted' : err.code) : 'internal',
        });
      }
      throw err;
    }
  }

  const router: Router = {
    async chatCompletions(body, signal, caller) {
      const tokenName = caller?.tokenName ?? null;
      const started = performance.now();
      const fleet = runtime.current();
      const { prompt, exact, need } = await size(
        fleet,
        body.messages,
        body.tools,
        body.max_completion_tokens ?? body.max_tokens,
        'chat completions prompt',
      );
      const stream = body.stream === true;
      const c = await route(fleet, body.model, need, (server) => chatCall(server, body, stream), signal, {
        started,
        tokenName,
      });
      const r: RequestLog = {
        api: 'chat',
        model: body.model,
        stream,
        promptTokensEstimate: prompt,
        promptTokensExact: exact,
        started,
        tokenName,
        debugBody: body.messages,
      };
      const headers = routingHeaders(answers, c, body.model);
      const toolCalls = toolCallPlan(c.server, body.tools, body['tool_choice']);
      if (!stream || c.clientError)
        return wholeAnswer(
          answers,
          c,
          r,
          headers,
          toolCalls ? (json) => toolCallsInAnswer(json, toolCalls) : undefined,
        );
      const rewriter =
        quirksFor(c.server.node.kind).normalise || toolCalls
          ? chatNormaliser({
              servedModel: c.server.model.id,
              clientWantsUsage: clientWantsUsage(body),
              // The node sent no usage: count the prompt and what was streamed with the router's tokenizer.
              countUsage: async (written) => {
                const counted = await countChatTokens(counter, body.messages, body.tools);
                fellBack(counted.fallback, 'stream usage');
                return { prompt: counted.tokens, completion: await countTextTokens(counter, written) };
              },
              toolCalls,
            })
          : passthroughRewriter();
      return {
        status: c.opened.status,
        headers: { ...headers, ...SSE_HEADERS },
        body: streamAnswer(answers, c, r, rewriter),
      };
    },

    async responses(body, signal, caller) {
      const tokenName = caller?.tokenName ?? null;
      const started = performance.now();
      const fleet = runtime.current();
      const chat = responsesToChat(body);
      const messages = chat['messages'] as Record<string, unknown>[];
      const { prompt, exact, need } = await size(
        fleet,
        messages,
        chat['tools'] as unknown[] | undefined,
        body.max_output_tokens,
        'responses prompt',
      );
      const stream = body.stream === true;
      const c = await route(fleet, body.model, need, (server) => responsesCall(server, body, chat), signal, {
        started,
        tokenName,
      });
      const r: RequestLog = {
        api: 'responses',
        model: body.model,
        stream,
        promptTokensEstimate: prompt,
        promptTokensExact: exact,
        started,
        tokenName,
        debugBody: body.input,
      };
      const headers = {
        ...routingHeaders(answers, c, body.model),
        'x-handoff-translated': c.translate ? 'chat_completions' : 'no',
      };
      const toolCalls = toolCallPlan(c.server, body.tools, body['tool_choice']);
      if (!c.translate) {
        if (!stream || c.clientError)
          return wholeAnswer(
            answers,
            c,
            r,
            headers,
            toolCalls ? (json) => toolCallsInResponse(json, toolCalls) : undefined,
          );
        return {
          status: c.opened.status,
          headers: { ...headers, ...SSE_HEADERS },
          body: streamAnswer(answers, c, r, passthroughRewriter()),
        };
      }
      if (!stream || c.clientError)
        return wholeAnswer(
          answers,
          c,
          r,
          headers,
          c.clientError
            ? undefined
            : (json) => ({
                ...chatToResponse(toolCalls ? toolCallsInAnswer(json, toolCalls) : json, body),
                model: body.model,
              }),
        );
      return {
        status: 200,
        headers: { ...headers, ...SSE_HEADERS },
        body: streamAnswer(answers, c, r, responsesTranslator(body, c.server.model.id, toolCalls)),
      };
    },

    models() {
      const names = modelNames(runtime.current());
      return {
        object: 'list',
        data: [...names].map(([id, owners]) => ({
          id,
          object: 'model' as const,
          created: 0,
          owned_by: owners.join(','),
        })),
      };
    },

    nodes() {
      runtime.current();
      return runtime.nodes().map((rt) => rt.health.status());
    },

    probeDue: () => prober.probeDue(),

    registerMetrics(registry) {
      metrics.register(registry, () => runtime.nodes().map((rt) => rt.health));
    },

    async close() {
      await prober.close();
      await runtime.close();
      // last: what the requests and probes above noted is written before the database goes
      await opts.usage?.close();
      await opts.nodeState?.close();
    },
  };
  return router;
}
