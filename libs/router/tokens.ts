import { byteBound } from './tokenCounter.ts';
import type { TokenCounter, TokenizeFallback } from './tokenCounter.ts';

/**
 * Prompt size with a real BPE tokenizer (o200k_base), counted off the event loop by a TokenCounter.
 * Local models use other tokenizers, which is what `thresholds.tokenMarginPct` is for; each message
 * also costs a few template tokens.
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

/** The texts a chat request is counted by, and the template tokens around them. */
function chatTexts(
  messages: readonly Record<string, unknown>[],
  tools?: readonly unknown[],
): { texts: string[]; overhead: number } {
  const texts: string[] = [];
  for (const m of messages) {
    const text = messageText(m);
    if (text !== '') texts.push(text);
  }
  if (tools && tools.length > 0) texts.push(JSON.stringify(tools));
  return { texts, overhead: 3 + PER_MESSAGE_TOKENS * messages.length };
}

const sum = (ns: readonly number[]): number => ns.reduce((a, b) => a + b, 0);

export interface ChatTokenCount {
  tokens: number;
  /** false: the byte bound, because the tokenizer hit a cap (`fallback` says which). */
  exact: boolean;
  fallback?: TokenizeFallback;
}

/** Counts with the real tokenizer in `counter`'s workers; the byte bound when it cannot in time. */
export async function countChatTokens(
  counter: TokenCounter,
  messages: readonly Record<string, unknown>[],
  tools?: readonly unknown[],
): Promise<ChatTokenCount> {
  const { texts, overhead } = chatTexts(messages, tools);
  const counted = await counter.count(texts);
  return { tokens: overhead + sum(counted.tokens), exact: counted.exact, fallback: counted.fallback };
}

/** One text (the agent loop's history, a streamed answer), counted as countChatTokens counts. */
export async function countTextTokens(counter: TokenCounter, text: string): Promise<number> {
  if (text === '') return 0;
  return sum((await counter.count([text])).tokens);
}

/**
 * An upper bound of `countChatTokens` without tokenizing: o200k_base is a byte-level BPE, so no
 * text has more tokens than UTF-8 bytes. Tokenizing a long prompt costs milliseconds per request;
 * when even this bound fits every context window of the fleet, the exact count changes nothing.
 */
export function chatTokensBound(messages: readonly Record<string, unknown>[], tools?: readonly unknown[]): number {
  const { texts, overhead } = chatTexts(messages, tools);
  return overhead + sum(texts.map(byteBound));
}

/**
 * The prompt's token count for routing: the byte bound when, with the margin and `maxTokens`, it
 * fits `smallestWindow` (the smallest context window in the fleet, so no candidate can be skipped
 * for size), else the tokenizer's count from `counter` (itself the bound past its caps). `exact`
 * says which; `fallback` why a count that was asked for is the bound.
 */
export async function promptTokensForRouting(
  counter: TokenCounter,
  messages: readonly Record<string, unknown>[],
  tools: readonly unknown[] | undefined,
  marginPct: number,
  maxTokens: number,
  smallestWindow: number,
): Promise<{ prompt: number; exact: boolean; fallback?: TokenizeFallback }> {
  const bound = chatTokensBound(messages, tools);
  if (tokensNeeded(bound, marginPct, maxTokens) <= smallestWindow) return { prompt: bound, exact: false };
  const counted = await countChatTokens(counter, messages, tools);
  return { prompt: counted.tokens, exact: counted.exact, fallback: counted.fallback };
}

/** Tokens a request needs: the prompt plus the margin, plus what the answer may use. */
export function tokensNeeded(promptTokens: number, marginPct: number, maxTokens: number): number {
  return Math.ceil(promptTokens * (1 + marginPct / 100)) + maxTokens;
}
