import type { Router } from '@handoff/router';
import { SseParser } from '@handoff/router';

/**
 * One model call through the router, in-process, as a streamed Chat Completions request with
 * function tools. Chat Completions works for every node (the router translates where a node speaks
 * only Responses), so the loop needs one dialect. Text deltas are handed out as they come; tool
 * calls are assembled from their argument deltas, keyed by `index`.
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: AssembledToolCall[];
  tool_call_id?: string;
}

export interface AssembledToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ModelTurn {
  text: string;
  toolCalls: AssembledToolCall[];
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
}

export class ModelCallError extends Error {
  readonly status: number | null;
  constructor(message: string, status: number | null = null) {
    super(message);
    this.name = 'ModelCallError';
    this.status = status;
  }
}

type Json = Record<string, unknown>;

function describeErrorBody(status: number, body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown; code?: unknown } };
    const message = parsed.error?.message;
    if (typeof message === 'string')
      return `model call failed (HTTP ${status}${typeof parsed.error?.code === 'string' ? `, ${parsed.error.code}` : ''}): ${message}`;
  } catch {
    // not JSON
  }
  return `model call failed (HTTP ${status}): ${body.toString('utf8').slice(0, 300)}`;
}

class TurnAssembler {
  text = '';
  finishReason: string | null = null;
  usage: ModelTurn['usage'] = null;
  private readonly calls = new Map<number, AssembledToolCall>();

  private readonly onText: (text: string) => void;

  constructor(onText: (text: string) => void) {
    this.onText = onText;
  }

  chunk(data: Json): void {
    const usage = data['usage'] as Json | undefined | null;
    if (usage && typeof usage['prompt_tokens'] === 'number') {
      this.usage = { promptTokens: usage['prompt_tokens'], completionTokens: Number(usage['completion_tokens'] ?? 0) };
    }
    const choices = (data['choices'] as Json[] | undefined) ?? [];
    for (const choice of choices) {
      // a whole message (a non-streamed answer) or a delta (a chunk)
      const delta = (choice['delta'] ?? choice['message']) as Json | undefined;
      if (typeof choice['finish_reason'] === 'string') this.finishReason = choice['finish_reason'];
      if (!delta) continue;
      if (typeof delta['content'] === 'string' && delta['content'] !== '') {
        this.text += delta['content'];
        this.onText(delta['content']);
      }
      const calls = (delta['tool_calls'] as Json[] | undefined) ?? [];
      calls.forEach((call, position) => {
        const index = typeof call['index'] === 'number' ? call['index'] : position;
        const fn = (call['function'] as Json | undefined) ?? {};
        const current = this.calls.get(index) ?? {
          id: '',
          type: 'function' as const,
          function: { name: '', arguments: '' },
        };
        if (typeof call['id'] === 'string' && call['id'] !== '') current.id = call['id'];
        if (typeof fn['name'] === 'string') current.function.name += fn['name'];
        if (typeof fn['arguments'] === 'string') current.function.arguments += fn['arguments'];
        else if (fn['arguments'] && typeof fn['arguments'] === 'object')
          current.function.arguments += JSON.stringify(fn['arguments']);
        this.calls.set(index, current);
      });
    }
  }

  result(): ModelTurn {
    const toolCalls = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
    return { text: this.text, toolCalls, finishReason: this.finishReason, usage: this.usage };
  }
}

export async function callModel(opts: {
  router: Router;
  model: string;
  messages: ChatMessage[];
  /** None: a plain answer is asked for (a summary), with no tools offered. */
  tools?: unknown[];
  maxTokens: number;
  signal: AbortSignal;
  onText: (text: string) => void;
}): Promise<ModelTurn> {
  const answer = await opts.router.chatCompletions(
    {
      model: opts.model,
      messages: opts.messages as unknown as { role: string }[],
      ...(opts.tools ? { tools: opts.tools, tool_choice: 'auto' } : {}),
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: opts.maxTokens,
    },
    opts.signal,
  );
  const turn = new TurnAssembler(opts.onText);
  if (Buffer.isBuffer(answer.body)) {
    if (answer.status >= 400) throw new ModelCallError(describeErrorBody(answer.status, answer.body), answer.status);
    // A node that ignored `stream: true` answers one JSON body.
    try {
      turn.chunk(JSON.parse(answer.body.toString('utf8')) as Json);
    } catch {
      throw new ModelCallError(
        `model answer is not JSON: ${answer.body.toString('utf8').slice(0, 200)}`,
        answer.status,
      );
    }
    return turn.result();
  }
  const parser = new SseParser();
  for await (const chunk of answer.body) {
    if (opts.signal.aborted) break;
    for (const event of parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
      if (event.data === '' || event.data === '[DONE]') continue;
      let data: Json;
      try {
        data = JSON.parse(event.data) as Json;
      } catch {
        continue; // a keep-alive or a comment line
      }
      if (data['error']) {
        const err = data['error'] as Json;
        throw new ModelCallError(
          `model stream failed: ${typeof err['message'] === 'string' ? err['message'] : JSON.stringify(err)}`,
        );
      }
      turn.chunk(data);
    }
  }
  if (opts.signal.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
  return turn.result();
}
