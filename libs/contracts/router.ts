import { z } from 'zod';
import { DurationText } from './duration.ts';
import { refuseDeepOrLargeJson } from './intent.ts';

/**
 * nodes.json: the model fleet behind the router (see docs/router.md). Every field that has a
 * default is optional in the file; a bad file is refused naming the field and the last good fleet
 * keeps serving.
 */

export const NodeKind = z.enum(['mlx', 'vllm', 'ollama', 'lmstudio', 'llamacpp', 'openai']);
export type NodeKind = z.infer<typeof NodeKind>;

/**
 * How the router reads tool calls a model writes as text (docs/router.md): one family's format, or
 * `auto` (every family's; the default), or `none` (the text is left as it came).
 */
export const ToolCallParser = z.enum([
  'auto',
  'hermes',
  'qwen3_coder',
  'glm45',
  'mistral',
  'llama3',
  'deepseek',
  'none',
]);
export type ToolCallParser = z.infer<typeof ToolCallParser>;

export const FleetModel = z.strictObject({
  /** The id the node itself knows the model by; it is what the router sends upstream. */
  id: z.string().min(1).max(200),
  contextWindow: z.number().int().positive(),
  /** Other names clients may use for this model. */
  aliases: z.array(z.string().min(1).max(200)).default([]),
  /** Overrides the node's `toolCallParser` for this model. */
  toolCallParser: ToolCallParser.optional(),
});
export type FleetModel = z.infer<typeof FleetModel>;

export const NodeTimeouts = z.strictObject({
  /** From sending the request to the first byte of the answer's body. */
  firstByteMs: z.number().int().positive().default(120_000),
  /** Longest silence between two chunks of a streamed answer. */
  idleMs: z.number().int().positive().default(60_000),
  connectMs: z.number().int().positive().default(10_000),
});
export type NodeTimeouts = z.infer<typeof NodeTimeouts>;

export const FleetNode = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore, 1 to 64'),
  /** Up to and including `/v1`, e.g. `http://127.0.0.1:8800/v1`. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  kind: NodeKind,
  models: z.array(FleetModel).min(1),
  /** Name of the environment variable holding the node's API key (sent as a bearer token). */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .optional(),
  /** The node serves POST /v1/responses itself; otherwise the router translates to Chat Completions. */
  responses: z.boolean().default(false),
  /** The node runs on this machine: skipped while free memory is under `thresholds.memoryFloorGb`. */
  local: z.boolean().default(false),
  timeouts: NodeTimeouts.default(NodeTimeouts.parse({})),
  /** Tool calls written as text by this node's models; absent means `auto`. */
  toolCallParser: ToolCallParser.optional(),
});
export type FleetNode = z.infer<typeof FleetNode>;

export const FleetThresholds = z.strictObject({
  quarantineAfterFailures: z.number().int().positive().default(10),
  reprobeSeconds: z.number().positive().default(300),
  memoryFloorGb: z.number().nonnegative().default(16),
  /** Added to the tokenizer's count of the prompt, in percent, for chat templates and tokenizer differences. */
  tokenMarginPct: z.number().nonnegative().max(100).default(10),
  /** Reserved for the answer when the request names no max_tokens. */
  defaultMaxTokens: z.number().int().nonnegative().default(1024),
});
export type FleetThresholds = z.infer<typeof FleetThresholds>;

export const FleetConfig = z
  .strictObject({
    nodes: z.array(FleetNode).default([]),
    /** Model names (ids or aliases) from smallest to largest. */
    escalation: z.array(z.string().min(1)).default([]),
    thresholds: FleetThresholds.default(FleetThresholds.parse({})),
  })
  .superRefine((fleet, ctx) => {
    const ids = new Set<string>();
    const names = new Set<string>();
    fleet.nodes.forEach((node, i) => {
      if (ids.has(node.id))
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `duplicate node id ${node.id}` });
      ids.add(node.id);
      for (const m of node.models) {
        names.add(m.id);
        for (const a of m.aliases) names.add(a);
      }
    });
    fleet.escalation.forEach((name, i) => {
      if (!names.has(name))
        ctx.addIssue({ code: 'custom', path: ['escalation', i], message: `no node serves model ${name}` });
    });
  });
export type FleetConfig = z.infer<typeof FleetConfig>;

/**
 * Limits on the shape of a router body: validating, measuring and re-serialising it costs the event
 * loop time per JSON value, not per byte, so 8 MiB of tiny values (250,000 one-letter messages took
 * 0.6 s to validate) is refused by count (100,000 values validate in ~25 ms). A real prompt is far
 * inside both: a 1M-token conversation is some thousands of messages, most of it long strings.
 */
export const MAX_ROUTER_MESSAGES = 10_000;
export const MAX_ROUTER_JSON_VALUES = 100_000;

/** The fields of a chat completions request the router reads; everything else passes through. */
export const ChatCompletionsBody = z
  .looseObject({
    model: z.string().min(1).max(200),
    messages: z
      .array(z.looseObject({ role: z.string() }))
      .min(1)
      .max(MAX_ROUTER_MESSAGES),
    stream: z.boolean().optional(),
    max_tokens: z.number().int().nonnegative().nullish(),
    max_completion_tokens: z.number().int().nonnegative().nullish(),
    tools: z.array(z.unknown()).optional(),
  })
  // The router measures and re-serialises the body, and JSON.stringify recurses.
  .superRefine(refuseDeepOrLargeJson(MAX_ROUTER_JSON_VALUES));
export type ChatCompletionsBody = z.infer<typeof ChatCompletionsBody>;

/** The fields of a Responses API request the router reads; everything else passes through or is translated. */
export const ResponsesBody = z
  .looseObject({
    model: z.string().min(1).max(200),
    input: z.union([z.string(), z.array(z.looseObject({})).max(MAX_ROUTER_MESSAGES)]),
    instructions: z.string().nullish(),
    stream: z.boolean().optional(),
    max_output_tokens: z.number().int().nonnegative().nullish(),
    tools: z.array(z.looseObject({ type: z.string() })).optional(),
  })
  .superRefine(refuseDeepOrLargeJson(MAX_ROUTER_JSON_VALUES));
export type ResponsesBody = z.infer<typeof ResponsesBody>;

export const NodeHealthState = z.enum(['healthy', 'quarantined']);
export type NodeHealthState = z.infer<typeof NodeHealthState>;

/** One row of GET /v1/router/nodes. */
export const RouterNodeStatus = z.object({
  id: z.string(),
  kind: NodeKind,
  baseUrl: z.string(),
  local: z.boolean(),
  models: z.array(z.string()),
  state: NodeHealthState,
  breaker: z.enum(['closed', 'open', 'half_open']),
  consecutiveFailures: z.number(),
  /** Latency of the last successful request or probe (time to first byte), ms. */
  latencyMs: z.number().nullable(),
  lastError: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
  lastProbeAt: z.string().nullable(),
  nextProbeAt: z.string().nullable(),
});
export type RouterNodeStatus = z.infer<typeof RouterNodeStatus>;

/**
 * GET /v1/router/usage: the routed requests on record (router_usage), aggregated over the last
 * `since` (a DurationText, default 24h) by model asked, node, UTC day or client token.
 */
export const RouterUsageBy = z.enum(['model', 'node', 'day', 'token']);
export type RouterUsageBy = z.infer<typeof RouterUsageBy>;

export const RouterUsageQuery = z.strictObject({
  since: z.string().pipe(DurationText).default(86_400),
  by: RouterUsageBy.default('model'),
});
export type RouterUsageQuery = z.output<typeof RouterUsageQuery>;

/** Counts and time percentiles of one group of requests (or of all of them: the totals). */
export const RouterUsageFigures = z.object({
  requests: z.number(),
  /** Requests answered with an error (anything but `ok`; a client that went away is `clientAborted`, not an error). */
  errors: z.number(),
  clientAborted: z.number(),
  /** Requests served by another node or model than the first choice. */
  escalated: z.number(),
  tokensIn: z.number(),
  tokensOut: z.number(),
  /** ms; null when no request of the group had a first byte (or none had a time at all). */
  ttfbP50Ms: z.number().nullable(),
  ttfbP95Ms: z.number().nullable(),
  totalP50Ms: z.number().nullable(),
  totalP95Ms: z.number().nullable(),
});
export type RouterUsageFigures = z.infer<typeof RouterUsageFigures>;

export const RouterUsageRow = RouterUsageFigures.extend({
  /** The model asked, the node id, the UTC day (`YYYY-MM-DD`) or the token's name; null: none (no node tried, no token). */
  key: z.string().nullable(),
});
export type RouterUsageRow = z.infer<typeof RouterUsageRow>;

export const RouterUsageReport = z.object({
  since: z.string(),
  by: RouterUsageBy,
  rows: z.array(RouterUsageRow),
  totals: RouterUsageFigures,
});
export type RouterUsageReport = z.infer<typeof RouterUsageReport>;
