import { countTokens } from 'gpt-tokenizer';

/**
 * Prompt size with a real BPE tokenizer (o200k_base). Local models use other tokenizers, which is
 * what `thresholds.tokenMarginPct` is for; each message also costs a few template tokens.
 */
const PER_MESSAGE_TOKENS = 4;

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(textOf).join('\n');
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    // content parts: {type:'text', text} / {type:'input_text', text}; images count as nothing here.
    if (typeof o['text'] === 'string') return o['text'];
    return JSON.stringify(value);
  }
  return String(value);
}

function messageText(m: Record<string, unknown>): string {
  const parts = [textOf(m['content'])];
  if (Array.isArray(m['tool_calls'])) parts.push(JSON.stringify(m['tool_calls']));
  if (typeof m['name'] === 'string') parts.push(m['name']);
  return parts.filter((p) => p !== '').join('\n');
}

/** Counts with a real tokenizer; `measure` swaps in another count per text (the upper bound below). */
export function countChatTokens(messages: readonly Record<string, unknown>[], tools?: readonly unknown[], measure: (text: string) => number = countTokens): number {
  let total = 3;
  for (const m of messages) {
    total += PER_MESSAGE_TOKENS;
    const text = messageText(m);
    if (text !== '') total += measure(text);
  }
  if (tools && tools.length > 0) total += measure(JSON.stringify(tools));
  return total;
}

/**
 * An upper bound of `countChatTokens` without tokenizing: o200k_base is a byte-level BPE, so no
 * text has more tokens than UTF-8 bytes. Tokenizing a long prompt costs milliseconds per request;
 * when even this bound fits every context window of the fleet, the exact count changes nothing.
 */
export function chatTokensBound(messages: readonly Record<string, unknown>[], tools?: readonly unknown[]): number {
  return countChatTokens(messages, tools, (text) => Buffer.byteLength(text, 'utf8'));
}

/**
 * The prompt's token count for routing: the byte bound when, with the margin and `maxTokens`, it
 * fits `smallestWindow` (the smallest context window in the fleet, so no candidate can be skipped
 * for size), else the tokenizer's count. `exact` says which.
 */
export function promptTokensForRouting(
  messages: readonly Record<string, unknown>[],
  tools: readonly unknown[] | undefined,
  marginPct: number,
  maxTokens: number,
  smallestWindow: number,
): { prompt: number; exact: boolean } {
  const bound = chatTokensBound(messages, tools);
  if (tokensNeeded(bound, marginPct, maxTokens) <= smallestWindow) return { prompt: bound, exact: false };
  return { prompt: countChatTokens(messages, tools), exact: true };
}

/** Tokens a request needs: the prompt plus the margin, plus what the answer may use. */
export function tokensNeeded(promptTokens: number, marginPct: number, maxTokens: number): number {
  return Math.ceil(promptTokens * (1 + marginPct / 100)) + maxTokens;
}
