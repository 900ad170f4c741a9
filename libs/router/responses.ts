import { randomBytes } from 'node:crypto';
import { ApiError } from '@handoff/contracts';
import type { ResponsesBody } from '@handoff/contracts';
import type { Json } from './json.ts';
import { sseData } from './sse.ts';

/**
 * Responses API <-> Chat Completions, for nodes that speak only Chat Completions: input items
 * (messages, function_call, function_call_output), function tools, tool_choice, text.format,
 * reasoning text where the server returns it (`reasoning_content` or `reasoning`), and the streaming
 * event sequence the official clients expect.
 */

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function contentToChat(content: unknown, path: string): unknown {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    throw new ApiError(400, 'validation_failed', `${path}: expected a string or an array of content parts`);
  const parts = content.map((part: Json, i) => {
    const type = str(part['type']);
    if (type === 'input_text' || type === 'output_text' || type === 'text')
      return { type: 'text', text: str(part['text']) ?? '' };
    if (type === 'input_image') {
      const url = str(part['image_url']) ?? str(part['file_id']);
      return { type: 'image_url', image_url: { url: url ?? '', detail: part['detail'] ?? 'auto' } };
    }
    if (type === 'refusal') return { type: 'text', text: str(part['refusal']) ?? '' };
    throw new ApiError(
      400,
      'validation_failed',
      `${path}.${i}.type: content part ${JSON.stringify(type)} cannot be translated to Chat Completions`,
    );
  });
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => (p as { text: string }).text).join('');
  return parts;
}

/** A Responses request as the Chat Completions request that means the same. */
export function responsesToChat(body: ResponsesBody): Json {
  const messages: Json[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') {
    messages.push({ role: 'user', content: body.input });
  } else {
    body.input.forEach((item: Json, i) => {
      const path = `body.input.${i}`;
      const type = str(item['type']) ?? (item['role'] !== undefined ? 'message' : undefined);
      switch (type) {
        case 'message': {
          const role = str(item['role']) ?? 'user';
          messages.push({
            role: role === 'developer' ? 'system' : role,
            content: contentToChat(item['content'], `${path}.content`),
          });
          break;
        }
        case 'function_call': {
          const call = {
            id: str(item['call_id']) ?? newId('call'),
            type: 'function',
            function: { name: str(item['name']) ?? '', arguments: str(item['arguments']) ?? '' },
          };
          const last = messages[messages.length - 1];
          if (last && last['role'] === 'assistant' && Array.isArray(last['tool_calls']))
            (last['tool_calls'] as Json[]).push(call);
          else if (last && last['role'] === 'assistant' && last['tool_calls'] === undefined)
            last['tool_calls'] = [call];
          else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
          break;
        }
        case 'function_call_output': {
          const output = item['output'];
          const content =
            typeof output === 'string'
              ? output
              : Array.isArray(output)
                ? contentToChat(output, `${path}.output`)
                : JSON.stringify(output);
          messages.push({ role: 'tool', tool_call_id: str(item['call_id']) ?? '', content });
          break;
        }
        case 'reasoning':
          break; // the model's earlier thinking is not sent back to a Chat Completions server
        default:
          throw new ApiError(
            400,
            'validation_failed',
            `${path}.type: input item ${JSON.stringify(type)} cannot be translated to Chat Completions`,
          );
      }
    });
  }

  const chat: Json = { model: body.model, messages };
  if (body.tools && body.tools.length > 0) {
    chat['tools'] = body.tools.map((tool, i) => {
      if (tool.type !== 'function') {
        throw new ApiError(
          400,
          'validation_failed',
          `body.tools.${i}.type: only function tools can be translated to Chat Completions, not ${JSON.stringify(tool.type)}`,
        );
      }
      const fn: Json = { name: tool['name'], parameters: tool['parameters'] ?? { type: 'object', properties: {} } };
      if (tool['description'] !== undefined && tool['description'] !== null) fn['description'] = tool['description'];
      if (typeof tool['strict'] === 'boolean') fn['strict'] = tool['strict'];
      return { type: 'function', function: fn };
    });
  }
  const choice = body['tool_choice'];
  if (typeof choice === 'string') chat['tool_choice'] = choice;
  else if (choice && typeof choice === 'object' && (choice as Json)['type'] === 'function') {
    chat['tool_choice'] = { type: 'function', function: { name: (choice as Json)['name'] } };
  }
  if (typeof body.max_output_tokens === 'number') chat['max_tokens'] = body.max_output_tokens;
  for (const key of ['temperature', 'top_p', 'parallel_tool_calls', 'user', 'seed'] as const) {
    if (body[key] !== undefined && body[key] !== null) chat[key] = body[key];
  }
  const format = (body['text'] as Json | undefined)?.['format'] as Json | undefined;
  if (format?.['type'] === 'json_schema') {
    chat['response_format'] = {
      type: 'json_schema',
      json_schema: { name: format['name'] ?? 'output', schema: format['schema'], strict: format['strict'] ?? false },
    };
  } else if (format?.['type'] === 'json_object') {
    chat['response_format'] = { type: 'json_object' };
  }
  const effort = (body['reasoning'] as Json | undefined)?.['effort'];
  if (typeof effort === 'string') chat['reasoning_effort'] = effort;
  if (body.stream) {
    chat['stream'] = true;
    chat['stream_options'] = { include_usage: true };
  }
  return chat;
}

export interface ResponseUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
}

export function usageFromChat(usage: unknown): ResponseUsage | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Json;
  const input = Number(u['prompt_tokens'] ?? 0);
  const output = Number(u['completion_tokens'] ?? 0);
  const cached = Number((u['prompt_tokens_details'] as Json | undefined)?.['cached_tokens'] ?? 0);
  const reasoning = Number((u['completion_tokens_details'] as Json | undefined)?.['reasoning_tokens'] ?? 0);
  return {
    input_tokens: input,
    output_tokens: output,
    total_tokens: Number(u['total_tokens'] ?? input + output),
    input_tokens_details: { cached_tokens: cached },
    output_tokens_details: { reasoning_tokens: reasoning },
  };
}

/** The fields every Response object carries, from the request. */
function responseShell(id: string, body: ResponsesBody, createdAt: number): Json {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    model: body.model,
    output: [],
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body['parallel_tool_calls'] ?? true,
    previous_response_id: null,
    temperature: body['temperature'] ?? null,
    top_p: body['top_p'] ?? null,
    tool_choice: body['tool_choice'] ?? 'auto',
    tools: body.tools ?? [],
    text: body['text'] ?? { format: { type: 'text' } },
    metadata: body['metadata'] ?? {},
    usage: null,
  };
}

const reasoningOf = (m: Json | undefined): string | undefined => str(m?.['reasoning_content']) ?? str(m?.['reasoning']);

/** A non-streamed Chat Completions answer as a Response object. */
export function chatToResponse(chat: Json, body: ResponsesBody): Json {
  const choice = (chat['choices'] as Json[] | undefined)?.[0];
  const message = choice?.['message'] as Json | undefined;
  const output: Json[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning)
    output.push({
      type: 'reasoning',
      id: newId('rs'),
      summary: [],
      content: [{ type: 'reasoning_text', text: reasoning }],
    });
  const text = str(message?.['content']);
  if (text) {
    output.push({
      type: 'message',
      id: newId('msg'),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
    });
  }
  for (const call of (message?.['tool_calls'] as Json[] | undefined) ?? []) {
    const fn = (call['function'] as Json | undefined) ?? {};
    output.push({
      type: 'function_call',
      id: newId('fc'),
      call_id: str(call['id']) ?? newId('call'),
      name: str(fn['name']) ?? '',
      arguments: str(fn['arguments']) ?? '',
      status: 'completed',
    });
  }
  const truncated = choice?.['finish_reason'] === 'length';
  return {
    ...responseShell(newId('resp'), body, Number(chat['created'] ?? Math.floor(Date.now() / 1000))),
    status: truncated ? 'incomplete' : 'completed',
    incomplete_details: truncated ? { reason: 'max_output_tokens' } : null,
    output,
    usage: usageFromChat(chat['usage']),
  };
}

interface OpenText {
  index: number;
  id: string;
  text: string;
}
interface OpenCall {
  index: number;
  id: string;
  callId: string;
  name: string;
  args: string;
}

/**
 * Turns a stream of Chat Completions chunks into the Responses event sequence: response.created,
 * response.in_progress, then per output item response.output_item.added, its deltas
 * (response.output_text.delta, response.function_call_arguments.delta, response.reasoning_text.delta),
 * their .done events and response.output_item.done, and finally response.completed (or
 * response.incomplete when the answer was cut by max_output_tokens).
 */
export class ChatToResponsesStream {
  private seq = 0;
  private readonly response: Json;
  private readonly output: Json[] = [];
  private text: OpenText | null = null;
  private reasoning: OpenText | null = null;
  private readonly calls = new Map<number, OpenCall>();
  private finishReason: string | null = null;
  private usage: ResponseUsage | null = null;

  constructor(body: ResponsesBody) {
    this.response = responseShell(newId('resp'), body, Math.floor(Date.now() / 1000));
  }

  private emit(type: string, fields: Json): string {
    return sseData({ type, ...fields, sequence_number: this.seq++ }, type);
  }

  start(): string {
    return (
      this.emit('response.created', { response: this.response }) +
      this.emit('response.in_progress', { response: this.response })
    );
  }

  private closeText(out: string[]): void {
    const t = this.text;
    if (!t) return;
    const part = { type: 'output_text', text: t.text, annotations: [], logprobs: [] };
    const item = { type: 'message', id: t.id, status: 'completed', role: 'assistant', content: [part] };
    out.push(
      this.emit('response.output_text.done', {
        item_id: t.id,
        output_index: t.index,
        content_index: 0,
        text: t.text,
        logprobs: [],
      }),
    );
    out.push(this.emit('response.content_part.done', { item_id: t.id, output_index: t.index, content_index: 0, part }));
    out.push(this.emit('response.output_item.done', { output_index: t.index, item }));
    this.output[t.index] = item;
    this.text = null;
  }

  private closeReasoning(out: string[]): void {
    const r = this.reasoning;
    if (!r) return;
    const item = { type: 'reasoning', id: r.id, summary: [], content: [{ type: 'reasoning_text', text: r.text }] };
    out.push(
      this.emit('response.reasoning_text.done', {
        item_id: r.id,
        output_index: r.index,
        content_index: 0,
        text: r.text,
      }),
    );
    out.push(this.emit('response.output_item.done', { output_index: r.index, item }));
    this.output[r.index] = item;
    this.reasoning = null;
  }

  private closeCalls(out: string[]): void {
    for (const c of this.calls.values()) {
      const item = {
        type: 'function_call',
        id: c.id,
        call_id: c.callId,
        name: c.name,
        arguments: c.args,
        status: 'completed',
      };
      out.push(
        this.emit('response.function_call_arguments.done', {
          item_id: c.id,
          output_index: c.index,
          name: c.name,
          arguments: c.args,
        }),
      );
      out.push(this.emit('response.output_item.done', { output_index: c.index, item }));
      this.output[c.index] = item;
    }
    this.calls.clear();
  }

  /** One parsed Chat Completions chunk in, the Responses events it means out (already SSE-framed). */
  push(chunk: Json): string {
    const out: string[] = [];
    const usage = usageFromChat(chunk['usage']);
    if (usage) this.usage = usage;
    const choice = (chunk['choices'] as Json[] | undefined)?.[0];
    if (!choice) return '';
    const delta = (choice['delta'] as Json | undefined) ?? {};
    const reasoning = reasoningOf(delta);
    if (reasoning) {
      this.closeText(out);
      if (!this.reasoning) {
        this.reasoning = { index: this.output.length, id: newId('rs'), text: '' };
        this.output.push({});
        out.push(
          this.emit('response.output_item.added', {
            output_index: this.reasoning.index,
            item: { type: 'reasoning', id: this.reasoning.id, summary: [] },
          }),
        );
      }
      this.reasoning.text += reasoning;
      out.push(
        this.emit('response.reasoning_text.delta', {
          item_id: this.reasoning.id,
          output_index: this.reasoning.index,
          content_index: 0,
          delta: reasoning,
        }),
      );
    }
    const content = str(delta['content']);
    if (content) {
      this.closeReasoning(out);
      if (!this.text) {
        const t: OpenText = { index: this.output.length, id: newId('msg'), text: '' };
        this.text = t;
        this.output.push({});
        out.push(
          this.emit('response.output_item.added', {
            output_index: t.index,
            item: { type: 'message', id: t.id, status: 'in_progress', role: 'assistant', content: [] },
          }),
        );
        out.push(
          this.emit('response.content_part.added', {
            item_id: t.id,
            output_index: t.index,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
          }),
        );
      }
      this.text.text += content;
      out.push(
        this.emit('response.output_text.delta', {
          item_id: this.text.id,
          output_index: this.text.index,
          content_index: 0,
          delta: content,
          logprobs: [],
        }),
      );
    }
    const toolCalls = delta['tool_calls'];
    if (Array.isArray(toolCalls)) {
      this.closeReasoning(out);
      this.closeText(out);
      for (const tc of toolCalls as Json[]) {
        const key = typeof tc['index'] === 'number' ? tc['index'] : 0;
        const fn = (tc['function'] as Json | undefined) ?? {};
        let call = this.calls.get(key);
        if (!call) {
          call = {
            index: this.output.length,
            id: newId('fc'),
            callId: str(tc['id']) ?? newId('call'),
            name: str(fn['name']) ?? '',
            args: '',
          };
          this.calls.set(key, call);
          this.output.push({});
          out.push(
            this.emit('response.output_item.added', {
              output_index: call.index,
              item: {
                type: 'function_call',
                id: call.id,
                call_id: call.callId,
                name: call.name,
                arguments: '',
                status: 'in_progress',
              },
            }),
          );
        }
        const args = str(fn['arguments']);
        if (args) {
          call.args += args;
          out.push(
            this.emit('response.function_call_arguments.delta', {
              item_id: call.id,
              output_index: call.index,
              delta: args,
            }),
          );
        }
      }
    }
    if (typeof choice['finish_reason'] === 'string') this.finishReason = choice['finish_reason'];
    return out.join('');
  }

  /** The upstream stream ended: close every open item and send response.completed. */
  finish(): string {
    const out: string[] = [];
    this.closeReasoning(out);
    this.closeText(out);
    this.closeCalls(out);
    const truncated = this.finishReason === 'length';
    const response = {
      ...this.response,
      status: truncated ? 'incomplete' : 'completed',
      incomplete_details: truncated ? { reason: 'max_output_tokens' } : null,
      output: this.output.filter((item) => Object.keys(item).length > 0),
      usage: this.usage,
    };
    out.push(this.emit(truncated ? 'response.incomplete' : 'response.completed', { response }));
    return out.join('');
  }

  /** The upstream failed mid-stream: an `error` event, after which the stream closes. */
  fail(code: string, message: string): string {
    return this.emit('error', { code, message, param: null });
  }

  get usageSeen(): ResponseUsage | null {
    return this.usage;
  }
}
