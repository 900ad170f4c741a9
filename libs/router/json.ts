/** Reading what nodes answer: a JSON object (or null for anything else), and its token usage. */

export type Json = Record<string, unknown>;

/** Tokens a node reported (or the router counted); null where nobody knows. */
export interface Usage {
  prompt: number | null;
  completion: number | null;
}

export const NO_USAGE: Usage = { prompt: null, completion: null };

/** The body as JSON, or null when it is not JSON (an HTML error page, a truncated chunk). */
export function parseObject(buf: Buffer): Json | null {
  try {
    return JSON.parse(buf.toString('utf8')) as Json;
  } catch {
    return null;
  }
}

/** The `usage` of a Chat Completions answer or chunk (`prompt_tokens`) or a Responses answer (`input_tokens`). */
export function usageOf(json: unknown): Usage {
  const u = (json as { usage?: Json } | null)?.usage;
  if (!u) return NO_USAGE;
  const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    prompt: n(u['prompt_tokens'] ?? u['input_tokens']),
    completion: n(u['completion_tokens'] ?? u['output_tokens']),
  };
}
