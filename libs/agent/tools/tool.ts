import type { z } from 'zod';
import type { AgentEventBody } from '@handoff/contracts';
import type { ExecGuard } from '../guard/index.ts';
import type { CommandApprovals } from '../approvals.ts';
import type { IntentService } from '@handoff/intents';
import type { Isolation } from '../isolation.ts';
import type { Sandbox } from '../sandbox.ts';

/** What a tool run tells the loop: the text fed back to the model, and facts for events and audit. */
export interface ToolOutcome {
  ok: boolean;
  /** The tool result as the model reads it. */
  output: string;
  exitCode?: number | null;
  /** The guard stopped it (deny, rejected or expired approval). */
  blocked?: boolean;
  /** For the audit: the guard's decision or what happened (allow, approved, deny, ...). */
  decision?: string;
}

/** Everything a tool may use during one call. */
export interface ToolContext {
  sessionId: string;
  toolCallId: string;
  sandbox: Sandbox;
  /** Aborted when the run is stopped: a tool ends its work (and its processes) at once. */
  signal: AbortSignal;
  emit(event: AgentEventBody): void;
  guard: ExecGuard | null;
  approvals: CommandApprovals;
  approverAvailable: boolean;
  intents: IntentService;
  /**
   * Who started the run, as actorOf writes it (`<role>:<token id>`): intents are created in its name,
   * and intent_status reads only intents created under it.
   */
  actor: string;
  isolation: Isolation;
  handoffHome: string;
  bash: { timeoutMs: number; outputLimitBytes: number; killGraceMs: number };
  approvalTimeoutMs: number;
  approvalPollMs: number;
}

export interface Tool<A = unknown> {
  name: string;
  description: string;
  args: z.ZodType<A>;
  run(args: A, ctx: ToolContext): Promise<ToolOutcome>;
}

/** Declares a tool with its argument type inferred from the schema. */
export function defineTool<S extends z.ZodType>(tool: {
  name: string;
  description: string;
  args: S;
  run(args: z.infer<S>, ctx: ToolContext): Promise<ToolOutcome>;
}): Tool {
  return tool as unknown as Tool;
}

export function fail(output: string): ToolOutcome {
  return { ok: false, output };
}
