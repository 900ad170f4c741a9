import type { AgentConfig, FleetConfig } from '@handoff/contracts';
import { chatTokensBound, countChatTokens, escalationPath, serversOf, tokensNeeded } from '@handoff/router';
import type { TokenCounter } from '@handoff/router';
import { activeEntries, NO_SHAPING, requestMessages, truncateResult } from './conversation.ts';
import type { Entry, Shaping } from './conversation.ts';
import type { ChatMessage } from './model.ts';
import { StopError } from './stopError.ts';

/**
 * Before each turn the loop measures the request the way the router will (its tokenizer, its
 * margin, plus the completion tokens asked for) against the model's context window from nodes.json.
 * Over the window, in this order: move to the next model of the escalation chain whose window fits
 * (when agent.json allows it); cut the tool results of older turns to a head and a tail with a note;
 * have the model itself summarise the older turns (task, decisions, open items), fewer turns kept
 * word for word each time it still does not fit; cut the kept turns' tool results too. Only when the
 * last turn alone cannot fit does the run end (`context_window`).
 */

/** The first words of a summary request: the model, a log and a person can tell it apart. */
export const SUMMARY_REQUEST_HEADING = 'Summarise the agent work log below';

const SUMMARY_SYSTEM = [
  'You condense the log of an agent that works on a task with tools, so that it can go on with less context.',
  'Keep: the task; every decision made and why; what was done (files written or changed, commands run and what they showed, intents proposed with their ids and states); open items and the next steps.',
  'Drop: raw file contents and command output that are no longer needed.',
  'Answer with the summary only, as plain text.',
].join('\n');

/** Tokens kept free in a summary request for its instructions and template. */
const SUMMARY_OVERHEAD_TOKENS = 300;

export type ContextEvent = {
  type: 'context';
  turn: number;
  action: 'escalated' | 'truncated' | 'summarised';
  model: string;
  tokensBefore: number;
  tokensAfter: number;
  contextWindow: number;
  detail: string;
};

export interface FitRequest {
  fleet: FleetConfig;
  model: string;
  system: string;
  task: string;
  /** The stored conversation; summaries are appended through `addSummary`. */
  entries: Entry[];
  tools: unknown[];
  maxCompletionTokens: number;
  config: AgentConfig['context'];
  /** The turn about to be asked. */
  turn: number;
  counter: TokenCounter;
  /** One summary request to the run's model; answers the summary's text. */
  summarise(messages: ChatMessage[], maxTokens: number): Promise<string>;
  /** Stores a summary entry and adds it to `entries`. */
  addSummary(content: string, summarisedThrough: number): Promise<void>;
  emit(event: ContextEvent): void;
}

/** The largest window among the nodes that serve `model`; null when none does (the router answers that). */
export function contextWindowOf(fleet: FleetConfig, model: string): number | null {
  const windows = serversOf(fleet, model).map((s) => s.model.contextWindow);
  return windows.length > 0 ? Math.max(...windows) : null;
}

/** The first model after `model` on its escalation path whose window holds `need` tokens. */
export function biggerModel(fleet: FleetConfig, model: string, need: number): string | null {
  for (const server of escalationPath(fleet, model)) {
    const same = server.model.id === model || server.model.aliases.includes(model);
    if (!same && server.model.contextWindow >= need) return server.model.id;
  }
  return null;
}

/** The messages to send and the model to send them to, fitted to its window. */
export async function fitContext(req: FitRequest): Promise<{ model: string; messages: ChatMessage[] }> {
  const { fleet, config } = req;
  const margin = fleet.thresholds.tokenMarginPct;
  const need = async (messages: ChatMessage[]): Promise<number> => {
    const counted = await countChatTokens(req.counter, messages as unknown as Record<string, unknown>[], req.tools);
    return tokensNeeded(counted.tokens, margin, req.maxCompletionTokens);
  };
  const build = (shaping: Shaping = NO_SHAPING): ChatMessage[] =>
    requestMessages(req.system, req.task, req.entries, shaping);

  let messages = build();
  const window = contextWindowOf(fleet, req.model);
  if (window === null) return { model: req.model, messages };
  // The byte bound is never below the count: when it fits, tokenizing changes nothing.
  const bound = tokensNeeded(
    chatTokensBound(messages as unknown as Record<string, unknown>[], req.tools),
    margin,
    req.maxCompletionTokens,
  );
  if (bound <= window) return { model: req.model, messages };
  const before = await need(messages);
  if (before <= window) return { model: req.model, messages };

  const report = (action: ContextEvent['action'], model: string, after: number, w: number, detail: string): void =>
    req.emit({
      type: 'context',
      turn: req.turn,
      action,
      model,
      tokensBefore: before,
      tokensAfter: after,
      contextWindow: w,
      detail,
    });

  if (config.escalate) {
    const bigger = biggerModel(fleet, req.model, before);
    if (bigger) {
      const w = contextWindowOf(fleet, bigger) ?? before;
      report('escalated', bigger, before, w, `${req.model} (${window} tokens) -> ${bigger} (${w} tokens)`);
      return { model: bigger, messages };
    }
  }

  const lastTurn = Math.max(0, ...activeEntries(req.entries).rest.map((e) => e.turn));
  const shaping = (throughTurn: number): Shaping => ({
    truncateThroughTurn: throughTurn,
    truncatedResultChars: config.truncatedResultChars,
  });

  // 1. Older tool results cut to a head and a tail.
  messages = build(shaping(lastTurn - config.keepTurns));
  let now = await need(messages);
  if (now <= window) {
    report('truncated', req.model, now, window, `tool results of turns up to ${lastTurn - config.keepTurns} cut`);
    return { model: req.model, messages };
  }

  // 2. Older turns summarised by the model, keeping fewer turns word for word each time.
  for (let keep = config.keepTurns; keep >= 1; keep -= 1) {
    const older = activeEntries(req.entries).rest.filter((e) => e.turn <= lastTurn - keep);
    if (older.length === 0) continue;
    await summariseInto(req, older, window);
    messages = build(shaping(lastTurn - keep));
    now = await need(messages);
    if (now <= window) {
      report('summarised', req.model, now, window, `turns up to ${lastTurn - keep} summarised, the last ${keep} kept`);
      return { model: req.model, messages };
    }
  }

  // 3. The kept turns' tool results cut too.
  messages = build(shaping(lastTurn));
  now = await need(messages);
  if (now <= window) {
    report('truncated', req.model, now, window, 'every tool result cut, the last turn included');
    return { model: req.model, messages };
  }
  throw new StopError(
    'context_window',
    `the conversation needs ${now} tokens even compacted, more than ${req.model}'s context window of ${window}`,
  );
}

/** Renders one entry for the summariser: what was said, called and answered, each piece capped. */
function renderEntry(e: Entry, cap: number): string {
  if (e.role === 'assistant') {
    const calls = (e.toolCalls ?? []).map(
      (c) => `-> ${c.function.name} ${truncateResult(c.function.arguments, 1000)} [${c.id}]`,
    );
    return [`agent (turn ${e.turn}): ${truncateResult(e.content ?? '', cap * 2)}`, ...calls].join('\n');
  }
  return `result [${e.toolCallId ?? ''}]: ${truncateResult(e.content ?? '', cap)}`;
}

/** Summarises `older` (with the summary before it) in as many requests as the window needs. */
async function summariseInto(req: FitRequest, older: Entry[], window: number): Promise<void> {
  const margin = 1 + req.fleet.thresholds.tokenMarginPct / 100;
  const maxTokens = Math.min(req.config.summaryMaxTokens, Math.floor(window / 4));
  const pieces = older.map((e) => renderEntry(e, req.config.truncatedResultChars));
  const sizes = (await req.counter.count(pieces)).tokens;
  let previous = activeEntries(req.entries).summary?.content ?? null;

  let start = 0;
  while (start < pieces.length) {
    const fixed = (await req.counter.count([SUMMARY_SYSTEM, req.task, previous ?? ''])).tokens.reduce(
      (a, b) => a + b,
      0,
    );
    const budget = Math.floor((window - maxTokens) / margin) - fixed - SUMMARY_OVERHEAD_TOKENS;
    let end = start;
    let used = 0;
    while (end < pieces.length && (end === start || used + sizes[end]! <= budget)) {
      used += sizes[end]!;
      end += 1;
    }
    if (budget <= 0 || used > budget)
      throw new StopError(
        'context_window',
        `the task and the summary so far leave no room in ${req.model}'s context window (${window} tokens) to summarise`,
      );
    const log = pieces.slice(start, end).join('\n\n');
    const messages: ChatMessage[] = [
      { role: 'system', content: SUMMARY_SYSTEM },
      {
        role: 'user',
        content:
          `${SUMMARY_REQUEST_HEADING} into one summary.\n\nThe task:\n${req.task}\n\n` +
          (previous ? `The summary so far:\n${previous}\n\n` : '') +
          `The work log to fold in:\n${log}`,
      },
    ];
    previous = (await req.summarise(messages, maxTokens)).trim() || previous;
    start = end;
  }
  await req.addSummary(previous ?? '', Math.max(...older.map((e) => e.seq)));
}
