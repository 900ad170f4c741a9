import { z } from 'zod';
import type { AgentConfig, AgentErrorCode, AgentEventBody, AgentUsage, FleetConfig } from '@handoff/contracts';
import { countTextTokens, sharedTokenCounter } from '@handoff/router';
import type { Router } from '@handoff/router';
import type { AgentAudit } from './audit.ts';
import { fitContext } from './contextWindow.ts';
import { unansweredCalls } from './conversation.ts';
import type { Entry } from './conversation.ts';
import { callModel, ModelCallError } from './model.ts';
import type { AssembledToolCall, ChatMessage, ModelTurn } from './model.ts';
import { redact } from './redact.ts';
import { SandboxError } from './sandbox.ts';
import { StopError } from './stopError.ts';
import { findTool, TOOLS, toolDefinitions } from './tools/index.ts';
import type { ToolContext, ToolOutcome } from './tools/index.ts';

/**
 * One run of the agent loop: send the conversation to the model, check and run each tool call it
 * makes, feed the results back, and repeat until the model answers without tools (done) or a limit
 * is hit. Nothing the model sends can crash the loop: bad JSON, an unknown tool or arguments that
 * fail the tool's schema become an error result the model reads on its next turn.
 */
export interface SessionLimits {
  maxTurns: number;
  tokenBudget: number;
  modelTimeoutMs: number;
  maxCompletionTokens: number;
}

export interface SessionOptions {
  sessionId: string;
  task: string;
  model: string;
  router: Router;
  limits: SessionLimits;
  audit: AgentAudit;
  /** Everything tools need except the per-call fields. */
  toolContext: Omit<ToolContext, 'toolCallId' | 'emit' | 'signal'>;
  signal: AbortSignal;
  emit(event: AgentEventBody): void;
  onTurn?(turns: number): void;
  /** The fleet in force: context windows and the escalation chain. */
  fleet(): FleetConfig;
  context: AgentConfig['context'];
  recorder: SessionRecorder;
  /** A stored session taken up again: its conversation, usage and the model it ran on. */
  resume?: { entries: Entry[]; usage: UsageTotals; model: string };
}

/** Tool results fed back to the model are capped; the full output went to the events. */
const MAX_RESULT_CHARS = 100_000;
/** Tool output in `tool_result` events is capped too: a client needs to see it, not a megabyte of it. */
const MAX_EVENT_OUTPUT_CHARS = 16_000;

export function systemPrompt(workingDir: string, isolation: string): string {
  return [
    'You are the handoff agent. You work on a task inside a sandbox directory and use tools to do it.',
    `The sandbox (your working directory) is ${workingDir}. You can read and change files only inside it; paths outside are refused.`,
    `bash commands run in the sandbox (isolation: ${isolation}); each one is checked by an exec guard and may be denied or wait for a person's approval.`,
    'You cannot reach the outside world directly. To post, send, schedule, deploy or call a webhook, use propose_intent: a person approves it and an executor performs it.',
    'When the task is done, answer with a short summary and no tool call.',
  ].join('\n');
}

function capText(text: string, max: number): string {
  if (text.length <= max) return text;
  const half = Math.floor(max / 2);
  return `${text.slice(0, half)}\n[... ${text.length - max} characters cut ...]\n${text.slice(-half)}`;
}

/** Parses and validates one tool call. Returns the tool and its arguments, or the error the model reads. */
function prepareCall(
  call: AssembledToolCall,
):
  | { ok: true; tool: NonNullable<ReturnType<typeof findTool>>; args: unknown; raw: unknown }
  | { ok: false; error: string; raw: unknown } {
  const tool = findTool(call.function.name);
  let raw: unknown;
  const text = call.function.arguments.trim() === '' ? '{}' : call.function.arguments;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const error = `error: the arguments of your ${JSON.stringify(call.function.name)} call are not valid JSON (${(err as Error).message}). You sent: ${capText(call.function.arguments, 500)}. Call the tool again with a JSON object.`;
    return { ok: false, error, raw: call.function.arguments };
  }
  if (!tool) {
    return {
      ok: false,
      error: `error: there is no tool ${JSON.stringify(call.function.name)}. Available tools: ${TOOLS.map((t) => t.name).join(', ')}.`,
      raw,
    };
  }
  const parsed = tool.args.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => {
        const where = i.path.map(String).join('.') || '(arguments)';
        return i.code === 'unrecognized_keys'
          ? `${where}: unknown argument(s) ${i.keys.join(', ')}`
          : `${where}: ${i.message}`;
      })
      .join('; ');
    return {
      ok: false,
      error: `error: invalid arguments for ${tool.name}: ${issues}. Expected: ${JSON.stringify(z.toJSONSchema(tool.args, { io: 'input' }))}`,
      raw,
    };
  }
  return { ok: true, tool, args: parsed.data, raw };
}

export { StopError } from './stopError.ts';

/** Usage summed over a session's turns, resumed attempts included. */
export interface UsageTotals {
  turns: number;
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
}

/** Where the loop writes the session as it goes (Postgres, see sessionStore.ts). */
export interface SessionRecorder {
  /** The model answered a turn: its message and the usage so far, written together. */
  turnAnswered(entry: Entry, usage: UsageTotals): Promise<void>;
  /** A tool result or a summary. */
  entryAdded(entry: Entry): Promise<void>;
  /** Summaries cost tokens without being a turn. */
  usageChanged(usage: UsageTotals): Promise<void>;
  modelChanged(model: string): Promise<void>;
}

/** How a run ended. */
export type SessionOutcome =
  | { type: 'done'; summary: string; usage: AgentUsage }
  | { type: 'error'; code: AgentErrorCode; message: string; usage: AgentUsage };

/** Result text of a bash call a restart cut short: it is not run again, the model decides. */
export const INTERRUPTED_BASH_RESULT =
  'interrupted: the coordinator stopped while this command ran or waited for approval, and it was not run again. ' +
  'It may have run in part or in full: check its effects before running it again.';

export async function runSession(opts: SessionOptions): Promise<SessionOutcome> {
  const started = Date.now();
  const usage: UsageTotals = opts.resume?.usage
    ? { ...opts.resume.usage }
    : { turns: 0, promptTokens: 0, completionTokens: 0, estimated: false };
  const snapshot = (): AgentUsage => ({
    ...usage,
    totalTokens: usage.promptTokens + usage.completionTokens,
    durationMs: Date.now() - started,
  });
  const system = systemPrompt(opts.toolContext.sandbox.root, opts.toolContext.isolation.level);
  const entries: Entry[] = opts.resume?.entries.slice() ?? [];
  let nextSeq = Math.max(0, ...entries.map((e) => e.seq)) + 1;
  let model = opts.resume?.model ?? opts.model;
  const tools = toolDefinitions();
  const stopReason = (): StopError => {
    const reason = opts.signal.reason;
    return reason instanceof StopError ? reason : new StopError('stopped', 'the run was stopped');
  };
  const add = async (entry: Omit<Entry, 'seq'>): Promise<Entry> => {
    const stored: Entry = { ...entry, seq: nextSeq++ };
    entries.push(stored);
    await opts.recorder.entryAdded(stored);
    return stored;
  };
  const countUsage = async (turn: ModelTurn, messages: ChatMessage[]): Promise<void> => {
    if (turn.usage) {
      usage.promptTokens += turn.usage.promptTokens;
      usage.completionTokens += turn.usage.completionTokens;
    } else {
      usage.estimated = true;
      // Off the event loop, with the router's caps: a long history must not stop the coordinator.
      usage.promptTokens += await countTextTokens(sharedTokenCounter(), JSON.stringify(messages));
      usage.completionTokens += await countTextTokens(sharedTokenCounter(), turn.text + JSON.stringify(turn.toolCalls));
    }
  };
  /** One model call, its failures as the StopError that ends the run. */
  const ask = async (
    messages: ChatMessage[],
    withTools: boolean,
    maxTokens: number,
    onText: (text: string) => void,
  ): Promise<ModelTurn> => {
    const timeout = AbortSignal.timeout(opts.limits.modelTimeoutMs);
    try {
      return await callModel({
        router: opts.router,
        model,
        messages,
        ...(withTools ? { tools } : {}),
        maxTokens,
        signal: AbortSignal.any([opts.signal, timeout]),
        onText,
      });
    } catch (err) {
      if (opts.signal.aborted) throw stopReason();
      if (timeout.aborted)
        throw new StopError('model_timeout', `the model call took longer than ${opts.limits.modelTimeoutMs} ms`);
      if (err instanceof ModelCallError) throw new StopError('model_error', err.message);
      const message = (err as { message?: unknown }).message;
      throw new StopError('model_error', `model call failed: ${typeof message === 'string' ? message : String(err)}`);
    }
  };

  try {
    if (opts.resume) await finishCutTurn(opts, entries, add);
    for (;;) {
      if (opts.signal.aborted) throw stopReason();
      if (usage.turns >= opts.limits.maxTurns) {
        throw new StopError(
          'turn_limit',
          `the turn limit (${opts.limits.maxTurns}) was reached before the task was done`,
        );
      }
      const turnNo = usage.turns + 1;
      const fitted = await fitContext({
        fleet: opts.fleet(),
        model,
        system,
        task: opts.task,
        entries,
        tools,
        maxCompletionTokens: opts.limits.maxCompletionTokens,
        config: opts.context,
        turn: turnNo,
        counter: sharedTokenCounter(),
        summarise: async (messages, maxTokens) => {
          const answer = await ask(messages, false, maxTokens, () => {});
          await countUsage(answer, messages);
          await opts.recorder.usageChanged(usage);
          return answer.text;
        },
        addSummary: async (content, through) => {
          await add({ turn: turnNo, role: 'summary', content, summarisedThrough: through });
        },
        emit: opts.emit,
      });
      if (fitted.model !== model) {
        model = fitted.model;
        await opts.recorder.modelChanged(model);
      }
      const turn = await ask(fitted.messages, true, opts.limits.maxCompletionTokens, (text) =>
        opts.emit({ type: 'text_delta', turn: turnNo, text }),
      );
      usage.turns = turnNo;
      opts.onTurn?.(turnNo);
      await countUsage(turn, fitted.messages);

      if (turn.toolCalls.length === 0) {
        await opts.recorder.turnAnswered(
          { seq: nextSeq++, turn: turnNo, role: 'assistant', content: turn.text },
          usage,
        );
        const done = { type: 'done' as const, summary: turn.text.trim(), usage: snapshot() };
        opts.emit(done);
        return done;
      }

      // Local models often omit ids; each call gets one that is stable within the session.
      turn.toolCalls.forEach((call, i) => {
        if (!call.id) call.id = `call_t${turnNo}_${i}`;
      });
      const prepared = turn.toolCalls.map((call) => ({ call, prep: prepareCall(call) }));
      const assistant: Entry = {
        seq: nextSeq++,
        turn: turnNo,
        role: 'assistant',
        content: turn.text === '' ? null : turn.text,
        // Invalid JSON is not echoed back: some servers' chat templates parse it and fail the next turn.
        toolCalls: prepared.map(({ call, prep }) => ({
          ...call,
          function: {
            name: call.function.name,
            arguments: prep.ok || typeof prep.raw !== 'string' ? call.function.arguments : '{}',
          },
        })),
      };
      entries.push(assistant);
      // Written before any tool runs: a restart from here replays these very calls, under these ids.
      await opts.recorder.turnAnswered(assistant, usage);

      for (const { call, prep } of prepared) {
        const outcome = await runOneCall(opts, turnNo, call, prep);
        await add({
          turn: turnNo,
          role: 'tool',
          toolCallId: call.id,
          content: capText(outcome.output, MAX_RESULT_CHARS),
        });
        if (opts.signal.aborted) throw stopReason();
      }

      const total = usage.promptTokens + usage.completionTokens;
      if (total >= opts.limits.tokenBudget) {
        throw new StopError(
          'token_budget',
          `the token budget (${opts.limits.tokenBudget}) was used up (${total} tokens) before the task was done`,
        );
      }
    }
  } catch (err) {
    const stop =
      err instanceof StopError ? err : new StopError('internal', `internal error: ${(err as Error).message}`);
    const failed = { type: 'error' as const, code: stop.code, message: stop.message, usage: snapshot() };
    opts.emit(failed);
    return failed;
  }
}

/**
 * A resumed session whose last turn was cut short: its calls without a stored result run again under
 * the same ids (propose_intent finds the intent its key already made; the file tools are safe to
 * repeat), except bash, whose command may have run in part: the model is told and decides.
 */
async function finishCutTurn(
  opts: SessionOptions,
  entries: Entry[],
  add: (entry: Omit<Entry, 'seq'>) => Promise<Entry>,
): Promise<void> {
  const calls = unansweredCalls(entries);
  const turnNo = entries.findLast((e) => e.role === 'assistant')?.turn ?? 0;
  const replayed = calls.filter((c) => c.function.name !== 'bash');
  opts.emit({
    type: 'session_resumed',
    fromTurn: turnNo,
    replayed: replayed.map((c) => c.id),
    notReplayed: calls.filter((c) => c.function.name === 'bash').map((c) => c.id),
  });
  for (const call of calls) {
    const prep = prepareCall(call);
    const outcome: ToolOutcome =
      call.function.name === 'bash'
        ? await recordInterrupted(opts, turnNo, call, prep.raw)
        : await runOneCall(opts, turnNo, call, prep);
    await add({ turn: turnNo, role: 'tool', toolCallId: call.id, content: capText(outcome.output, MAX_RESULT_CHARS) });
  }
}

async function recordInterrupted(
  opts: SessionOptions,
  turnNo: number,
  call: AssembledToolCall,
  raw: unknown,
): Promise<ToolOutcome> {
  await opts.audit.record({
    sessionId: opts.toolContext.sessionId,
    actor: opts.toolContext.actor,
    toolCallId: call.id,
    toolName: call.function.name,
    args: raw,
    durationMs: 0,
    blocked: false,
    decision: 'interrupted',
    exitCode: null,
  });
  opts.emit({
    type: 'tool_result',
    turn: turnNo,
    toolCallId: call.id,
    name: call.function.name,
    ok: false,
    output: INTERRUPTED_BASH_RESULT,
    durationMs: 0,
  });
  return { ok: false, output: INTERRUPTED_BASH_RESULT, decision: 'interrupted' };
}

type Prepared = ReturnType<typeof prepareCall>;

async function runOneCall(
  opts: SessionOptions,
  turnNo: number,
  call: AssembledToolCall,
  prep: Prepared,
): Promise<ToolOutcome> {
  const started = performance.now();
  const args = redact(prep.raw);
  opts.emit({ type: 'tool_call', turn: turnNo, toolCallId: call.id, name: call.function.name, args });
  let outcome: ToolOutcome;
  if (!prep.ok) {
    outcome = { ok: false, output: prep.error, decision: 'invalid' };
  } else {
    try {
      outcome = await prep.tool.run(prep.args, {
        ...opts.toolContext,
        toolCallId: call.id,
        signal: opts.signal,
        emit: opts.emit,
      });
    } catch (err) {
      if (err instanceof SandboxError)
        outcome = { ok: false, output: `error: ${err.message}`, decision: 'outside_sandbox' };
      else if (opts.signal.aborted) outcome = { ok: false, output: 'stopped', decision: 'stopped' };
      else {
        const code = (err as NodeJS.ErrnoException).code;
        outcome = {
          ok: false,
          output: `error: ${call.function.name} failed: ${code ? `${code}: ` : ''}${(err as Error).message}`,
          decision: 'error',
        };
      }
    }
  }
  if (opts.signal.aborted && outcome.decision !== 'stopped' && !outcome.blocked)
    outcome = { ...outcome, decision: 'stopped' };
  const durationMs = performance.now() - started;
  await opts.audit.record({
    sessionId: opts.toolContext.sessionId,
    actor: opts.toolContext.actor,
    toolCallId: call.id,
    toolName: call.function.name,
    args: prep.raw,
    durationMs,
    blocked: outcome.blocked ?? false,
    decision: outcome.decision ?? (outcome.ok ? 'ok' : 'error'),
    exitCode: outcome.exitCode ?? null,
  });
  opts.emit({
    type: 'tool_result',
    turn: turnNo,
    toolCallId: call.id,
    name: call.function.name,
    ok: outcome.ok,
    output: capText(outcome.output, MAX_EVENT_OUTPUT_CHARS),
    ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
    durationMs: Math.round(durationMs),
  });
  return outcome;
}
