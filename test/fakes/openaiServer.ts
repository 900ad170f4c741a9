import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { countTokens } from 'gpt-tokenizer';

/**
 * A fake OpenAI-compatible inference server that fails the way real ones do (see openaiServer.md).
 * Each request takes the next queued behaviour, else `defaultBehavior`.
 */
export type FakeBehavior =
  | { kind: 'ok' }
  | { kind: 'status'; status: 429 | 500 | 503 }
  /** Accepts the request and never answers (headers never come). */
  | { kind: 'hang' }
  /** Sends headers at once, the first token only after `ms` (a long prefill). */
  | { kind: 'slowFirstToken'; ms: number }
  /** Streams `afterChunks` chunks, then destroys the socket. */
  | { kind: 'dropMidStream'; afterChunks: number }
  /** Streams `afterChunks` chunks, then goes silent with the socket open. */
  | { kind: 'stallMidStream'; afterChunks: number }
  /** A 400 about the request (not the context), in the server's `errorStyle`. */
  | { kind: 'badRequest'; message: string }
  /** 200 with an error body and no answer, as LM Studio answers unknown endpoints. */
  | { kind: 'errorAs200'; message: string }
  /** Streams `afterChunks` chunks, then an SSE error event in the server's `errorStyle`, then ends. */
  | { kind: 'errorMidStream'; afterChunks: number; message: string };

/**
 * How real servers differ (see openaiServer.md and libs/router/quirks.ts for the sources):
 * - `errorStyle`: `openai` {error: {message, type, code}}; `vllm_flat` {object: "error", message,
 *   type, code: 400}; `lmstudio_string` {error: "text"}; `html` a text/html page (Python's http.server).
 * - `reasoningField`: where reasoning text goes (`reasoning_content` or `reasoning`).
 * - `echoModel`: the model name the answers carry (a path or file name) instead of the requested id.
 * - `streamUsage`: `on_request` (stream_options.include_usage) or `never` (LM Studio).
 * - `maxTokensField`: the only limit field honoured; answers are cut to it (`finish_reason: length`).
 * - `toolsNeedJinja`: tools get llama.cpp's 500 "tools param requires --jinja flag".
 * - `rejectNulls`: a top-level null value gets a 400 (MLX validates types strictly).
 * - `rejectJsonObject`: `response_format: {type: "json_object"}` gets LM Studio's 400.
 */
export interface FakeServerStyle {
  errorStyle?: 'openai' | 'vllm_flat' | 'lmstudio_string' | 'html';
  reasoningField?: 'reasoning_content' | 'reasoning';
  echoModel?: string;
  streamUsage?: 'on_request' | 'never';
  maxTokensField?: 'max_tokens' | 'both';
  toolsNeedJinja?: boolean;
  rejectNulls?: boolean;
  rejectJsonObject?: boolean;
}

/** Styles of the server kinds, as far as the fake can show them. */
export const FAKE_STYLES: Record<'openai' | 'vllm' | 'mlx' | 'ollama' | 'lmstudio' | 'llamacpp', FakeServerStyle> = {
  openai: {},
  vllm: { errorStyle: 'vllm_flat', reasoningField: 'reasoning', maxTokensField: 'both' },
  mlx: {
    errorStyle: 'html',
    echoModel: '/Users/me/models/mlx-community/Qwen3-4bit',
    maxTokensField: 'max_tokens',
    rejectNulls: true,
  },
  ollama: { reasoningField: 'reasoning', maxTokensField: 'max_tokens' },
  lmstudio: {
    errorStyle: 'lmstudio_string',
    streamUsage: 'never',
    maxTokensField: 'max_tokens',
    rejectJsonObject: true,
  },
  llamacpp: { echoModel: 'gpt-3.5-turbo', maxTokensField: 'max_tokens', toolsNeedJinja: true },
};

export interface FakeModel {
  id: string;
  contextWindow: number;
}

export interface FakeOpenAIOptions {
  models: FakeModel[];
  /** Serve POST /v1/responses natively (a small subset). */
  responses?: boolean;
  /** Milliseconds between streamed chunks. */
  chunkDelayMs?: number;
  /** Reasoning text sent before the answer (as `reasoning_content` unless `style.reasoningField` says otherwise). */
  reasoning?: string;
  /** How this server differs from OpenAI's API (default: not at all). */
  style?: FakeServerStyle;
}

export interface FakeOpenAI {
  /** Base URL up to /v1. */
  url: string;
  /** Request bodies of POST calls, in order, with their path. */
  requests: { path: string; body: Record<string, unknown>; headers: IncomingMessage['headers'] }[];
  queue: FakeBehavior[];
  defaultBehavior: FakeBehavior;
  /** GET /v1/models answers 500 while true. */
  probeFails: boolean;
  probes: number;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function lastUserText(messages: Json[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.['role'] === 'user') return typeof m['content'] === 'string' ? m['content'] : JSON.stringify(m['content']);
  }
  return '';
}

/** What the fake model says: a tool call when tools are offered and no tool result came back yet, else text. */
function plan(body: Json): { text: string | null; tool: { name: string; args: string } | null } {
  const messages = (body['messages'] as Json[] | undefined) ?? [];
  const last = messages[messages.length - 1];
  const tools = (body['tools'] as Json[] | undefined) ?? [];
  if (last?.['role'] === 'tool') return { text: `tool said: ${String(last['content'])}`, tool: null };
  const first = tools[0]?.['function'] as Json | undefined;
  if (first)
    return {
      text: null,
      tool: { name: String(first['name']), args: JSON.stringify({ city: 'Paris', unit: 'celsius' }) },
    };
  return { text: `echo: ${lastUserText(messages)}`, tool: null };
}

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions): Promise<FakeOpenAI> {
  const sockets = new Set<Socket>();
  const chunkDelay = opts.chunkDelayMs ?? 1;
  const fake: FakeOpenAI = {
    url: '',
    requests: [],
    queue: [],
    defaultBehavior: { kind: 'ok' },
    probeFails: false,
    probes: 0,
    close: async () => {},
  };

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const style = opts.style ?? {};
  /** An error in this server's style. */
  const fail = (res: ServerResponse, status: number, message: string, code: string | null = null): void => {
    const type = status >= 500 ? 'server_error' : 'invalid_request_error';
    switch (style.errorStyle ?? 'openai') {
      case 'vllm_flat':
        return json(res, status, { object: 'error', message, type: 'BadRequestError', param: null, code: status });
      case 'lmstudio_string':
        return json(res, status, { error: message });
      case 'html': {
        const page = `<!DOCTYPE HTML>\n<html><head><title>Error response</title></head><body><h1>Error response</h1><p>Error code: ${status}</p><p>Message: ${message}.</p></body></html>\n`;
        res.writeHead(status, { 'content-type': 'text/html;charset=utf-8', 'content-length': Buffer.byteLength(page) });
        res.end(page);
        return;
      }
      default:
        return json(res, status, { error: { message, type, code } });
    }
  };

  async function chat(req: IncomingMessage, res: ServerResponse, body: Json, behavior: FakeBehavior): Promise<void> {
    const model = opts.models.find((m) => m.id === body['model']);
    if (!model) return fail(res, 404, `model ${String(body['model'])} not found`, 'model_not_found');
    if (style.rejectNulls) {
      const nulls = Object.keys(body).filter((k) => body[k] === null);
      if (nulls.length > 0) return fail(res, 400, `${nulls[0]} must not be null`);
    }
    if (style.rejectJsonObject && (body['response_format'] as Json | undefined)?.['type'] === 'json_object') {
      return fail(res, 400, "'response_format.type' must be 'json_schema' or 'text'");
    }
    if (style.toolsNeedJinja && Array.isArray(body['tools']) && body['tools'].length > 0) {
      return json(res, 500, {
        error: { code: 500, message: 'tools param requires --jinja flag', type: 'server_error' },
      });
    }
    if (behavior.kind === 'badRequest') return fail(res, 400, behavior.message);
    if (behavior.kind === 'errorAs200') return json(res, 200, { error: behavior.message });
    const servedName = style.echoModel ?? model.id;
    const reasoningField = style.reasoningField ?? 'reasoning_content';
    const promptTokens = countTokens(JSON.stringify(body['messages'] ?? []));
    const limitOf = (v: unknown): number | null => (typeof v === 'number' ? v : null);
    const limit =
      style.maxTokensField === 'max_tokens'
        ? limitOf(body['max_tokens'])
        : (limitOf(body['max_completion_tokens']) ?? limitOf(body['max_tokens']));
    const maxTokens = limit ?? 0;
    if (promptTokens + maxTokens > model.contextWindow) {
      return fail(
        res,
        400,
        `This model's maximum context length is ${model.contextWindow} tokens. However, you requested ${promptTokens + maxTokens} tokens.`,
        'context_length_exceeded',
      );
    }
    const planned = plan(body);
    const tool = planned.tool;
    // A limit the server honours cuts the answer (one token per character here, near enough).
    const cut = limit !== null && planned.text !== null && planned.text.length > limit;
    const text = cut && planned.text !== null ? planned.text.slice(0, limit ?? 0) : planned.text;
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const created = Math.floor(Date.now() / 1000);
    const completionTokens = countTokens(text ?? tool?.args ?? '');
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };

    if (body['stream'] !== true) {
      if (behavior.kind === 'slowFirstToken') await sleep(behavior.ms);
      const message: Json = { role: 'assistant', content: text };
      if (opts.reasoning) message[reasoningField] = opts.reasoning;
      if (tool)
        message['tool_calls'] = [
          { id: 'call_1', type: 'function', function: { name: tool.name, arguments: tool.args } },
        ];
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: servedName,
        choices: [{ index: 0, message, finish_reason: tool ? 'tool_calls' : cut ? 'length' : 'stop' }],
        usage,
      });
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    const chunk = (delta: Json, finish: string | null = null): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: servedName, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const frames: string[] = [chunk({ role: 'assistant', content: '' })];
    if (opts.reasoning) for (const p of pieces(opts.reasoning, 6)) frames.push(chunk({ [reasoningField]: p }));
    if (text) for (const p of pieces(text, 4)) frames.push(chunk({ content: p }));
    if (tool) {
      frames.push(
        chunk({
          tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: tool.name, arguments: '' } }],
        }),
      );
      for (const p of pieces(tool.args, 7))
        frames.push(chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }));
    }
    frames.push(chunk({}, tool ? 'tool_calls' : cut ? 'length' : 'stop'));
    const streamOptions = body['stream_options'] as Json | undefined;
    if (streamOptions?.['include_usage'] && style.streamUsage !== 'never')
      frames.push(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: servedName, choices: [], usage })}\n\n`,
      );
    frames.push('data: [DONE]\n\n');

    if (behavior.kind === 'slowFirstToken') await sleep(behavior.ms);
    for (let i = 0; i < frames.length; i++) {
      if (behavior.kind === 'dropMidStream' && i === behavior.afterChunks) {
        req.socket.destroy();
        return;
      }
      if (behavior.kind === 'stallMidStream' && i === behavior.afterChunks) return; // silent, socket open
      if (behavior.kind === 'errorMidStream' && i === behavior.afterChunks) {
        const e =
          style.errorStyle === 'lmstudio_string'
            ? { error: behavior.message }
            : { error: { code: 500, message: behavior.message, type: 'server_error' } };
        res.end(`data: ${JSON.stringify(e)}\n\n`);
        return;
      }
      if (res.destroyed) return;
      res.write(frames[i]);
      if (chunkDelay > 0) await sleep(chunkDelay);
    }
    res.end();
  }

  function nativeResponses(res: ServerResponse, body: Json): void {
    const text = `native: ${typeof body['input'] === 'string' ? body['input'] : 'items'}`;
    const response = {
      id: 'resp_native',
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'completed',
      model: body['model'],
      output: [
        {
          type: 'message',
          id: 'msg_native',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text, annotations: [] }],
        },
      ],
      usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    };
    json(res, 200, response);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method === 'GET' && path === '/v1/models') {
        fake.probes += 1;
        if (fake.probeFails) return json(res, 500, { error: { message: 'down' } });
        return json(res, 200, {
          object: 'list',
          data: opts.models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'fake' })),
        });
      }
      let body: Json;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
      } catch {
        return json(res, 400, { error: { message: 'invalid JSON' } });
      }
      fake.requests.push({ path, body, headers: req.headers });
      const behavior = fake.queue.shift() ?? fake.defaultBehavior;
      if (behavior.kind === 'hang') return;
      if (behavior.kind === 'status') {
        return json(res, behavior.status, {
          error: { message: behavior.status === 429 ? 'rate limited' : 'internal error', type: 'server_error' },
        });
      }
      if (path === '/v1/chat/completions') {
        chat(req, res, body, behavior).catch(() => res.destroy());
        return;
      }
      if (path === '/v1/responses' && opts.responses) return nativeResponses(res, body);
      json(res, 404, { error: { message: `no route ${path}` } });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}/v1`;
  fake.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}
