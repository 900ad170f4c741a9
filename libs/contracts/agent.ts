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
  /** What the loop does when the history outgrows the model's context window (docs/agent.md). */
  context: z
    .strictObject({
      /** Move the run to the next model of nodes.json's `escalation` chain whose window fits, before compacting. */
      escalate: z.boolean().default(true),
      /** The last turns kept word for word when older ones are cut or summarised. */
      keepTurns: z.int().min(1).max(50).default(2),
      /** Older tool results are cut to this many characters (head and tail), with a note. */
      truncatedResultChars: z.int().min(200).max(100_000).default(2000),
      /** Completion tokens asked for a summary of older turns. */
      summaryMaxTokens: z.int().min(64).max(16_384).default(1024),
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
  /** The history cannot be made to fit the model's context window (the last turn alone is too big). */
  'context_window',
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
  /** A stored session taken up again (`handoff agent resume`): what the loop found and did. */
  z.object({
    type: z.literal('session_resumed'),
    fromTurn: z.number(),
    /** Tool calls of the last turn that had no stored result and were run again (same ids). */
    replayed: z.array(z.string()),
    /** bash calls of that turn that were not run again: the model is told, and decides. */
    notReplayed: z.array(z.string()),
  }),
  /** The history outgrew the model's window: the run moved to a bigger model or compacted it. */
  z.object({
    type: z.literal('context'),
    turn: z.number(),
    action: z.enum(['escalated', 'truncated', 'summarised']),
    model: z.string(),
    /** Tokens the next request needs (prompt with margin plus max_tokens), before and after. */
    tokensBefore: z.number(),
    tokensAfter: z.number(),
    contextWindow: z.number(),
    detail: z.string(),
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

/**
 * A session's life in `agent_sessions`: `running` while a coordinator works on it; `done` (the model
 * finished), `failed` (a limit or an error ended it), `stopped` (a person or the client went away)
 * or `interrupted` (the coordinator stopped or died under it). Every state but `running` and `done`
 * may be resumed.
 */
export const AgentSessionState = z.enum(['running', 'done', 'failed', 'stopped', 'interrupted']);
export type AgentSessionState = z.infer<typeof AgentSessionState>;
export const RESUMABLE_SESSION_STATES: readonly AgentSessionState[] = ['failed', 'stopped', 'interrupted'];

/** One row of `handoff agent sessions` / GET /v1/agent/sessions. */
export const AgentSession = z.object({
  id: z.uuid(),
  task: z.string(),
  /** The model the run asked for, and the one it runs on now (they differ after an escalation). */
  model: z.string(),
  currentModel: z.string(),
  workingDir: z.string(),
  state: AgentSessionState,
  turns: z.int(),
  maxTurns: z.int(),
  promptTokens: z.int(),
  completionTokens: z.int(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  /** Ended: from start to end; running: so far. */
  durationMs: z.int(),
  resumes: z.int(),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  summary: z.string().nullable(),
});
export type AgentSession = z.infer<typeof AgentSession>;

export const ListAgentSessionsQuery = z.strictObject({
  state: AgentSessionState.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: ListCursor.optional(),
});
export type ListAgentSessionsQuery = z.infer<typeof ListAgentSessionsQuery>;

export const AgentSessionList = z.object({ sessions: z.array(AgentSession), nextCursor: z.string().nullable() });
export type AgentSessionList = z.infer<typeof AgentSessionList>;

export const AgentSessionIdParams = z.strictObject({ id: z.uuid() });

/**
 * One message of a session's transcript as the model saw it (secrets redacted for display).
 * `summary` is a compaction: it stands for every message before it that has `seq <= summarisedThrough`.
 */
export const AgentTranscriptMessage = z.object({
  seq: z.int(),
  turn: z.int(),
  role: z.enum(['assistant', 'tool', 'summary']),
  content: z.string().nullable(),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.unknown() })).optional(),
  toolCallId: z.string().optional(),
  summarisedThrough: z.int().optional(),
  at: z.string(),
});
export type AgentTranscriptMessage = z.infer<typeof AgentTranscriptMessage>;

/** `handoff agent show ID` / GET /v1/agent/sessions/:id. */
export const AgentSessionDetail = AgentSession.extend({
  transcript: z.array(AgentTranscriptMessage),
  /** Every tool call as agent_audit holds it (arguments redacted). */
  toolAudit: z.array(
    z.object({
      at: z.string(),
      toolCallId: z.string(),
      tool: z.string(),
      args: z.unknown(),
      decision: z.string().nullable(),
      blocked: z.boolean(),
      exitCode: z.int().nullable(),
      durationMs: z.int(),
    }),
  ),
  /** What the exec guard and people decided about the session's commands (blocked and asked). */
  guardDecisions: z.array(
    z.object({
      at: z.string(),
      toolCallId: z.string(),
      command: z.string(),
      /** `ask`: a person was asked and has not answered (yet, or before the session stopped). */
      decision: z.enum(['deny', 'ask', 'rejected', 'expired', 'approved']),
      rule: z.string(),
      reason: z.string(),
      approvalId: z.string().nullable(),
    }),
  ),
  /** Intents the session proposed (by their `agent:<session>:<call>` keys), each once. */
  intents: z.array(
    z.object({
      id: z.string(),
      idempotencyKey: z.string(),
      channel: z.string(),
      account: z.string(),
      state: z.string(),
      createdAt: z.string(),
    }),
  ),
  /** Context-window actions: escalations and compactions. */
  contextEvents: z.array(z.object({ at: z.string(), turn: z.int(), action: z.string(), detail: z.string() })),
});
export type AgentSessionDetail = z.infer<typeof AgentSessionDetail>;
