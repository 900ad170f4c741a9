import { z } from 'zod';
import { IdPrefix, ListCursor } from './intent.ts';

/**
 * The agent loop's contracts (see docs/agent.md): `$HANDOFF_HOME/agent.json`, the bodies of
 * /v1/agent/*, the events of a run's SSE stream and command approvals.
 */

/** `$HANDOFF_HOME/agent.json`. Every field has a default, so `{}` (or no file) is a valid config. */
export const AgentConfig = z.strictObject({
  /** Absolute path of the sandbox root; default `$HANDOFF_HOME/workspace`. A run may narrow it, never widen it. */
  sandboxRoot: z
    .string()
    .refine((p) => p.startsWith('/'), 'must be an absolute path')
    .optional(),
  /** Model used when a run names none; default the first model of the router's fleet. */
  model: z.string().min(1).max(200).optional(),
  /**
   * `auto` picks the strongest level that works here (bubblewrap, then unshare on Linux; sandbox-exec
   * on macOS) and refuses bash commands when none works; `none` (only when named) runs bash with no
   * OS isolation, warned about at every start; a level name forces that level, and bash commands are
   * refused (health says why) when it does not work here.
   */
  isolation: z.enum(['auto', 'none', 'bubblewrap', 'unshare', 'sandbox-exec']).default('auto'),
  /**
   * Network inside the sandbox; off by default (a command cannot reach out). `true` shares the host's
   * network whole, loopback services included (a per-host allowlist would need a proxy; see
   * docs/agent.md), and is warned about at start and in the live report.
   */
  network: z.boolean().default(false),
  /** Turn limit of a run (one turn = one model call); a run's `maxTurns` may lower it, never raise it. */
  maxTurns: z.int().min(1).max(1000).default(30),
  /** Total tokens (prompt + completion, summed over the turns) a run may use. */
  tokenBudget: z.int().min(1000).default(200_000),
  /** Timeout of one model call, from request to the end of the streamed answer. */
  modelTimeoutMs: z.int().min(1000).default(180_000),
  /** Completion tokens asked per model call. */
  maxCompletionTokens: z.int().min(16).default(4096),
  bash: z
    .strictObject({
      timeoutMs: z.int().min(100).default(120_000),
      /** Output kept from a command (stdout and stderr together): head and tail, marked when cut. */
      outputLimitBytes: z
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(64 * 1024),
      /** Time between SIGTERM and SIGKILL to a command's process group. */
      killGraceMs: z.int().min(0).max(60_000).default(2000),
    })
    .prefault({}),
  approvals: z
    .strictObject({
      /** false: nobody answers command approvals, so the guard's `ask` becomes `deny` (fail closed). */
      enabled: z.boolean().default(true),
      /** An unanswered command approval expires (= deny) after this long. */
      timeoutMs: z.int().min(1000).default(600_000),
      /** How often the loop looks at the approval row while waiting. */
      pollMs: z.int().min(20).max(10_000).default(200),
    })
    .prefault({}),
});
export type AgentConfig = z.infer<typeof AgentConfig>;
export type AgentConfigInput = z.input<typeof AgentConfig>;

export const AgentRunBody = z.strictObject({
  task: z.string().trim().min(1).max(100_000),
  /** Inside the sandbox root (absolute, or relative to it). */
  workingDir: z.string().min(1).max(4096).optional(),
  model: z.string().min(1).max(200).optional(),
  maxTurns: z.int().min(1).max(1000).optional(),
});
export type AgentRunBody = z.infer<typeof AgentRunBody>;

export const AgentStopBody = z.strictObject({ sessionId: z.uuid() });
export type AgentStopBody = z.infer<typeof AgentStopBody>;

export const IsolationLevel = z.enum(['bubblewrap', 'unshare', 'sandbox-exec', 'none']);
export type IsolationLevel = z.infer<typeof IsolationLevel>;

export const AgentUsage = z.object({
  turns: z.number(),
  promptTokens: z.number(),
  completionTokens: z.number(),
  totalTokens: z.number(),
  /** True when some turn's tokens were estimated (the server reported no usage). */
  estimated: z.boolean(),
  durationMs: z.number(),
});
export type AgentUsage = z.infer<typeof AgentUsage>;

/** Why a run ended without `done`. */
export const AgentErrorCode = z.enum([
  'stopped',
  'client_gone',
  'turn_limit',
  'token_budget',
  'model_error',
  'model_timeout',
  'shutdown',
  'internal',
]);
export type AgentErrorCode = z.infer<typeof AgentErrorCode>;

/** The events of a run, without the `sessionId` and `seq` every SSE message carries. */
const agentEventBodies = [
  z.object({
    type: z.literal('session_started'),
    task: z.string(),
    workingDir: z.string(),
    model: z.string(),
    maxTurns: z.number(),
    isolation: IsolationLevel,
  }),
  z.object({ type: z.literal('text_delta'), turn: z.number(), text: z.string() }),
  z.object({
    type: z.literal('tool_call'),
    turn: z.number(),
    toolCallId: z.string(),
    name: z.string(),
    args: z.unknown(),
  }),
  z.object({
    type: z.literal('tool_result'),
    turn: z.number(),
    toolCallId: z.string(),
    name: z.string(),
    ok: z.boolean(),
    output: z.string(),
    exitCode: z.number().nullable().optional(),
    durationMs: z.number(),
  }),
  z.object({
    type: z.literal('blocked'),
    toolCallId: z.string(),
    command: z.string(),
    decision: z.enum(['deny', 'rejected', 'expired']),
    rule: z.string(),
    reason: z.string(),
    approvalId: z.string().optional(),
  }),
  z.object({
    type: z.literal('approval_required'),
    toolCallId: z.string(),
    approvalId: z.string(),
    command: z.string(),
    cwd: z.string(),
    rule: z.string(),
    reason: z.string(),
    expiresAt: z.string(),
  }),
  z.object({
    type: z.literal('intent_proposed'),
    toolCallId: z.string(),
    intentId: z.string(),
    state: z.string(),
    channel: z.string(),
    account: z.string(),
    created: z.boolean(),
  }),
  z.object({ type: z.literal('done'), summary: z.string(), usage: AgentUsage }),
  z.object({ type: z.literal('error'), code: AgentErrorCode, message: z.string(), usage: AgentUsage }),
] as const;
export const AgentEventBody = z.discriminatedUnion('type', agentEventBodies);
export type AgentEventBody = z.infer<typeof AgentEventBody>;
export type AgentEventType = AgentEventBody['type'];

/** One `data:` message of a run's SSE stream: an event with the run's id, its place and time. */
export const AgentEvent = z.intersection(
  AgentEventBody,
  z.object({ sessionId: z.string(), seq: z.number(), ts: z.string() }),
);
export type AgentEvent = z.infer<typeof AgentEvent>;

export const CommandApprovalState = z.enum(['pending', 'approved', 'rejected', 'expired']);
export type CommandApprovalState = z.infer<typeof CommandApprovalState>;

export const CommandApproval = z.object({
  id: z.uuid(),
  sessionId: z.string(),
  command: z.string(),
  cwd: z.string(),
  commandHash: z.string(),
  state: CommandApprovalState,
  rule: z.string(),
  reason: z.string(),
  requestedAt: z.string(),
  expiresAt: z.string(),
  decidedAt: z.string().nullable(),
  decidedBy: z.string().nullable(),
  decisionReason: z.string().nullable(),
});
export type CommandApproval = z.infer<typeof CommandApproval>;

export const ListCommandApprovalsQuery = z.strictObject({
  state: CommandApprovalState.optional(),
  idPrefix: IdPrefix.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: ListCursor.optional(),
});
export type ListCommandApprovalsQuery = z.infer<typeof ListCommandApprovalsQuery>;

/**
 * A page of command approvals, each whole (a person approves the exact command), stopping before
 * LIST_ANSWER_MAX_BYTES; `nextCursor` is set whenever rows remain.
 */
export const CommandApprovalList = z.object({ approvals: z.array(CommandApproval), nextCursor: z.string().nullable() });
export type CommandApprovalList = z.infer<typeof CommandApprovalList>;

export const CommandApprovalIdParams = z.strictObject({ id: z.uuid() });

export const AgentHealth = z.object({
  activeSessions: z.array(
    z.object({
      sessionId: z.string(),
      startedAt: z.string(),
      model: z.string(),
      workingDir: z.string(),
      turns: z.int(),
      waitingForApproval: z.boolean(),
    }),
  ),
  sandboxRoot: z.string(),
  isolation: IsolationLevel,
  isolationDetail: z.string(),
  /** Set when commands run weaker than a sandbox (isolation none, network shared) or are refused. */
  isolationWarning: z.string().nullable(),
  guardReady: z.boolean(),
  guardError: z.string().nullable(),
  router: z.object({ reachable: z.boolean(), fleetSize: z.int(), healthyNodes: z.int(), models: z.array(z.string()) }),
  config: z.record(z.string(), z.unknown()),
});
export type AgentHealth = z.infer<typeof AgentHealth>;
