import type { AssembledToolCall, ChatMessage } from './model.ts';

/**
 * A session's conversation after the system prompt and the task, as it is stored (agent_messages)
 * and as it is sent. Every entry has a place (`seq`) and the turn it belongs to. A `summary` entry
 * is a compaction: it stands for every entry up to `summarisedThrough`, so the model is sent the
 * latest summary (folded into the task message, which keeps user/assistant alternation for strict
 * chat templates) and the entries after what it covers.
 */
export interface Entry {
  seq: number;
  turn: number;
  role: 'assistant' | 'tool' | 'summary';
  content: string | null;
  toolCalls?: AssembledToolCall[];
  toolCallId?: string;
  summarisedThrough?: number;
}

/** How a request is cut down to fit: tool results of turns up to `truncateThroughTurn` are shortened. */
export interface Shaping {
  truncateThroughTurn: number;
  truncatedResultChars: number;
}

export const NO_SHAPING: Shaping = { truncateThroughTurn: 0, truncatedResultChars: Number.MAX_SAFE_INTEGER };

/** The latest summary and what comes after it: what the model still sees of the history. */
export function activeEntries(entries: readonly Entry[]): { summary: Entry | null; rest: Entry[] } {
  let summary: Entry | null = null;
  for (const e of entries) if (e.role === 'summary' && (!summary || e.seq > summary.seq)) summary = e;
  const through = summary?.summarisedThrough ?? 0;
  return { summary, rest: entries.filter((e) => e.role !== 'summary' && e.seq > through) };
}

/** Head and tail of a long tool result, with a note that says what was cut and what to do about it. */
export function truncateResult(text: string, max: number): string {
  if (text.length <= max) return text;
  const half = Math.floor(max / 2);
  return (
    `${text.slice(0, half)}\n[... ${text.length - max} characters of this older tool result were cut to fit the ` +
    `context window; run the tool again if you need them ...]\n${text.slice(-half)}`
  );
}

export function taskMessage(task: string, summary: Entry | null): string {
  if (!summary?.content) return task;
  return `${task}\n\n[Summary of the earlier work, written to fit the context window:]\n${summary.content}`;
}

/** The messages of one request: system prompt, task (with the summary), then the active entries. */
export function requestMessages(
  system: string,
  task: string,
  entries: readonly Entry[],
  shaping: Shaping = NO_SHAPING,
): ChatMessage[] {
  const { summary, rest } = activeEntries(entries);
  const messages: ChatMessage[] = [
    { role: 'system', content: system },
    { role: 'user', content: taskMessage(task, summary) },
  ];
  for (const e of rest) {
    if (e.role === 'assistant') {
      messages.push({
        role: 'assistant',
        content: e.content,
        ...(e.toolCalls && e.toolCalls.length > 0 ? { tool_calls: e.toolCalls } : {}),
      });
    } else if (e.role === 'tool') {
      const content =
        e.turn <= shaping.truncateThroughTurn
          ? truncateResult(e.content ?? '', shaping.truncatedResultChars)
          : (e.content ?? '');
      messages.push({ role: 'tool', tool_call_id: e.toolCallId ?? '', content });
    }
  }
  return messages;
}

/** Tool calls of the last assistant entry that have no result yet (a turn cut short by a restart). */
export function unansweredCalls(entries: readonly Entry[]): AssembledToolCall[] {
  const lastAssistant = entries.findLast((e) => e.role === 'assistant');
  if (!lastAssistant?.toolCalls) return [];
  const answered = new Set(
    entries.filter((e) => e.role === 'tool' && e.seq > lastAssistant.seq).map((e) => e.toolCallId),
  );
  return lastAssistant.toolCalls.filter((c) => !answered.has(c.id));
}
