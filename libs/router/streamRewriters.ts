import type { ChatCompletionsBody, ResponsesBody } from '@handoff/contracts';
import { NO_USAGE, parseObject, usageOf } from './json.ts';
import type { Json, Usage } from './json.ts';
import { normaliseAnswer, normaliseError } from './quirks.ts';
import { ChatToResponsesStream } from './responses.ts';
import { SseParser, sseData } from './sse.ts';
import { ToolCallChunks } from './toolCalls/index.ts';
import type { ToolCallPlan } from './toolCalls/index.ts';
import { UpstreamError } from './upstream.ts';

/**
 * What a streamed answer becomes on its way to the client: bytes of the node's SSE in, bytes for the
 * client out, chunk by chunk (never buffered to the end). Three rewriters: passthrough (the `openai`
 * kind and Responses passthrough: zero-copy, usage only watched), the Chat Completions normaliser
 * (the kind's quirks, event by event) and the Responses translator. They know nothing of nodes'
 * health or the log; answer.ts drives them and keeps those books.
 */
export interface StreamRewriter {
  /** Written before the node's first chunk. */
  start(): string;
  /** One chunk of the node's stream in, what the client gets for it out ('' or empty for nothing yet). */
  push(chunk: Buffer): Buffer | string | Promise<string>;
  /** Written after the node's last chunk. */
  end(): string;
  /** The last event of a stream that failed mid-way; `message` names the node. */
  fail(code: string, message: string): string;
  /** The tokens the stream reported (or the router counted), for the log and metrics. */
  usage(): Usage;
}

/** A Chat Completions stream's error event, in OpenAI's shape. */
function chatStreamError(code: string, message: string): string {
  return sseData({ error: { code, message, type: 'upstream_error' } });
}

/** Chunks go out as they came; only a `usage` field is read on the way. */
export function passthroughRewriter(): StreamRewriter {
  const parser = new SseParser();
  let usage = NO_USAGE;
  return {
    start: () => '',
    push(chunk) {
      for (const ev of parser.push(chunk)) {
        if (!ev.data.includes('"usage"')) continue;
        const u = usageOf(parseObject(Buffer.from(ev.data)));
        if (u.prompt !== null || u.completion !== null) usage = u;
      }
      return chunk;
    },
    end: () => '',
    fail: chatStreamError,
    usage: () => usage,
  };
}

/** Whether the client asked for a usage chunk at the end of its stream (`stream_options.include_usage`). */
export function clientWantsUsage(body: ChatCompletionsBody): boolean {
  return (body['stream_options'] as { include_usage?: unknown } | undefined)?.include_usage === true;
}

export interface ChatNormaliserOptions {
  /** The model id the router sent: every chunk names it, whatever the node echoes. */
  servedModel: string;
  /** The client asked for usage: it gets the node's, or one the router counts when the node sent none. */
  clientWantsUsage: boolean;
  /** Counts the prompt and `written` (what the stream carried) when the node reported no usage. */
  countUsage(written: string): Promise<{ prompt: number; completion: number }>;
  /** The request declared tools: calls the model writes as text become `tool_calls` deltas. */
  toolCalls?: ToolCallPlan | null;
}

/** Fields of a stream chunk that normaliseAnswer or the usage bookkeeping act on (`"reasoning"` does not match `"reasoning_content"`). */
const NEEDS_REWRITE = /"reasoning"|"error"|"usage"/;

/**
 * A Chat Completions stream re-framed event by event with the node kind's quirks: model name,
 * reasoning field, error events in OpenAI's shape, the usage chunk dropped when only the router
 * asked for it, and estimated when the client asked and the node sent none.
 */
export function chatNormaliser(opts: ChatNormaliserOptions): StreamRewriter {
  const parser = new SseParser();
  const ctx = { servedModel: opts.servedModel };
  const modelTag = `"model":${JSON.stringify(ctx.servedModel)}`;
  const wantsUsage = opts.clientWantsUsage;
  let usage = NO_USAGE;
  let usageSeen = false;
  let written = '';
  let last: Json | null = null;
  const toolCalls = opts.toolCalls ? new ToolCallChunks(opts.toolCalls) : null;
  const framed = (chunks: Json[]): string => chunks.map((c) => sseData(c)).join('');

  const usageChunk = async (): Promise<string> => {
    const counted = await opts.countUsage(written);
    usage = counted;
    const base = last ?? {};
    const totals = {
      prompt_tokens: counted.prompt,
      completion_tokens: counted.completion,
      total_tokens: counted.prompt + counted.completion,
    };
    return sseData({
      id: base['id'],
      object: 'chat.completion.chunk',
      created: base['created'],
      model: ctx.servedModel,
      choices: [],
      usage: totals,
    });
  };

  return {
    start: () => '',
    async push(chunk) {
      let out = '';
      for (const ev of parser.push(chunk)) {
        if (ev.data === '[DONE]') {
          if (toolCalls) out += framed(toolCalls.flush());
          if (wantsUsage && !usageSeen) out += await usageChunk();
          out += 'data: [DONE]\n\n';
          continue;
        }
        // Most chunks need nothing: already the right model name, no reasoning, error or usage field.
        // Those go out as they came, without a JSON round trip (which doubles the router's CPU per stream).
        if (!toolCalls && !(wantsUsage && !usageSeen) && ev.data.includes(modelTag) && !NEEDS_REWRITE.test(ev.data)) {
          out += `data: ${ev.data}\n\n`;
          continue;
        }
        const json = parseObject(Buffer.from(ev.data));
        if (!json) {
          if (ev.data !== '') out += `data: ${ev.data}\n\n`;
          continue;
        }
        if (json['error'] !== undefined && !Array.isArray(json['choices'])) {
          out += sseData({
            error: { ...(normaliseError(500, Buffer.from(ev.data))['error'] as object), type: 'upstream_error' },
          });
          continue;
        }
        if (json['usage']) {
          const u = usageOf(json);
          if (u.prompt !== null || u.completion !== null) {
            usage = u;
            usageSeen = true;
          }
          const choices = json['choices'];
          if (!wantsUsage && (!Array.isArray(choices) || choices.length === 0)) continue;
        }
        last = json;
        if (wantsUsage && !usageSeen) {
          for (const ch of (json['choices'] as { delta?: Json }[] | undefined) ?? []) {
            const d = ch.delta ?? {};
            for (const k of ['content', 'reasoning_content', 'reasoning'])
              if (typeof d[k] === 'string') written += d[k];
            for (const t of (d['tool_calls'] as { function?: { arguments?: string } }[] | undefined) ?? [])
              written += t.function?.arguments ?? '';
          }
        }
        const normalised = normaliseAnswer(json, ctx);
        out += toolCalls ? framed(toolCalls.chunk(normalised)) : sseData(normalised);
      }
      return out;
    },
    end: () => (toolCalls ? framed(toolCalls.flush()) : ''),
    fail: chatStreamError,
    usage: () => usage,
  };
}

/** A Chat Completions stream, translated into Responses events as it comes; an error event from the node fails the stream. */
export function responsesTranslator(
  body: ResponsesBody,
  servedModel: string,
  toolCallPlan: ToolCallPlan | null = null,
): StreamRewriter {
  const parser = new SseParser();
  const stream = new ChatToResponsesStream(body);
  const toolCalls = toolCallPlan ? new ToolCallChunks(toolCallPlan) : null;
  const flush = (): string =>
    toolCalls
      ? toolCalls
          .flush()
          .map((c) => stream.push(c))
          .join('')
      : '';
  return {
    start: () => stream.start(),
    push(chunk) {
      let out = '';
      for (const ev of parser.push(chunk)) {
        if (ev.data === '[DONE]') out += flush();
        if (ev.data === '[DONE]' || ev.data === '') continue;
        const json = parseObject(Buffer.from(ev.data));
        if (!json) continue;
        if (json['error']) throw new UpstreamError('upstream_error', JSON.stringify(json['error']).slice(0, 300));
        const normalised = normaliseAnswer(json, { servedModel });
        if (toolCalls) for (const c of toolCalls.chunk(normalised)) out += stream.push(c);
        else out += stream.push(normalised);
      }
      return out;
    },
    end: () => flush() + stream.finish(),
    fail: (code, message) => stream.fail(code, message),
    usage() {
      const u = stream.usageSeen;
      return { prompt: u?.input_tokens ?? null, completion: u?.output_tokens ?? null };
    },
  };
}
