import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A fake inference server whose models write their tool calls as text, each in its family's own
 * bytes (see textToolCalls.md for the sources). The requested model id names the format; the reply
 * is a call of `get_weather` (or the calls a test sets), or, after a tool result, plain text.
 */

type Json = Record<string, unknown>;

export interface TextCall {
  name: string;
  arguments: Json;
}

/** Python's json.dumps with its default separators (", " and ": "), as the Jinja `tojson` of HF templates writes. */
export function pyJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`)
      .join(', ')}}`;
  return JSON.stringify(value);
}

/** A value as the XML formats write it: strings as they are, anything else as JSON. */
const xmlValue = (v: unknown): string => (typeof v === 'string' ? v : pyJson(v));

const DS = {
  callsBegin: '<｜tool▁calls▁begin｜>',
  callsEnd: '<｜tool▁calls▁end｜>',
  callBegin: '<｜tool▁call▁begin｜>',
  callEnd: '<｜tool▁call▁end｜>',
  sep: '<｜tool▁sep｜>',
};

// Qwen2.5 / Qwen3 tokenizer_config.json: '<tool_call>\n{"name": "' + name + '", "arguments": ' + args|tojson + '}\n</tool_call>'
function hermes(calls: TextCall[]): string {
  return calls
    .map((c) => `<tool_call>\n{"name": "${c.name}", "arguments": ${pyJson(c.arguments)}}\n</tool_call>`)
    .join('\n');
}

/** Each family's text for `calls`, as its chat template writes an assistant turn with tool calls. */
export const FORMATS = {
  hermes,
  // Qwen3-Coder chat_template.jinja: <function=NAME>, one <parameter=P> per argument, values between newlines
  qwen3_coder: (calls: TextCall[]) =>
    calls
      .map(
        (c) =>
          `<tool_call>\n<function=${c.name}>\n${Object.entries(c.arguments)
            .map(([k, v]) => `<parameter=${k}>\n${xmlValue(v)}\n</parameter>\n`)
            .join('')}</function>\n</tool_call>`,
      )
      .join('\n'),
  // zai-org/GLM-4.5 chat_template.jinja: '<tool_call>' + name + '\n' then '<arg_key>k</arg_key>\n<arg_value>v</arg_value>\n'
  glm45: (calls: TextCall[]) =>
    calls
      .map(
        (c) =>
          `<tool_call>${c.name}\n${Object.entries(c.arguments)
            .map(([k, v]) => `<arg_key>${k}</arg_key>\n<arg_value>${xmlValue(v)}</arg_value>\n`)
            .join('')}</tool_call>`,
      )
      .join('\n'),
  // GLM-4.7: the same without the newlines (llama.cpp common/chat GLM 4.5 format comment)
  glm47: (calls: TextCall[]) =>
    calls
      .map(
        (c) =>
          `<tool_call>${c.name}${Object.entries(c.arguments)
            .map(([k, v]) => `<arg_key>${k}</arg_key><arg_value>${xmlValue(v)}</arg_value>`)
            .join('')}</tool_call>`,
      )
      .join(''),
  // Mistral-7B-Instruct-v0.3 / Nemo (tokenizer v3): [TOOL_CALLS] + a JSON list with 9-character ids
  mistral_v3: (calls: TextCall[]) =>
    `[TOOL_CALLS] ${pyJson(calls.map((c, i) => ({ name: c.name, arguments: c.arguments, id: `a1b2c3d4${i}` })))}`,
  // Mistral-Small-3.2 / Devstral (tokenizer v11, mistral-common): [TOOL_CALLS]name[ARGS]{...} per call
  mistral_v11: (calls: TextCall[]) =>
    calls.map((c) => `[TOOL_CALLS]${c.name}[ARGS]${JSON.stringify(c.arguments)}`).join(''),
  // Llama-3.1/3.3 model card, JSON based tool calling: the whole reply, "parameters", values often strings
  llama3: (calls: TextCall[]) =>
    calls
      .map(
        (c) =>
          `{"name": "${c.name}", "parameters": ${pyJson(Object.fromEntries(Object.entries(c.arguments).map(([k, v]) => [k, typeof v === 'object' ? v : String(v)])))}}`,
      )
      .join('; '),
  // DeepSeek-V3-0324 chat template: type, sep, name, newline, a ```json fence
  deepseek_v3: (calls: TextCall[]) =>
    `${DS.callsBegin}${calls
      .map(
        (c) =>
          `${DS.callBegin}function${DS.sep}${c.name}\n\`\`\`json\n${JSON.stringify(c.arguments)}\n\`\`\`${DS.callEnd}`,
      )
      .join('\n')}${DS.callsEnd}`,
  // DeepSeek-V3.1 chat template: name, sep, the arguments as they are
  deepseek_v31: (calls: TextCall[]) =>
    `${DS.callsBegin}${calls.map((c) => `${DS.callBegin}${c.name}${DS.sep}${JSON.stringify(c.arguments)}${DS.callEnd}`).join('')}${DS.callsEnd}`,
  // Qwen3 / DeepSeek-R1 through a server without a reasoning parser: the thinking stays in the content
  think: (calls: TextCall[]) =>
    `<think>\nThe user wants the weather; I will answer with <tool_call> after thinking.\n</think>\n\n${hermes(calls)}`,
} as const;

export type TextFormat = keyof typeof FORMATS;

export interface TextToolModel {
  url: string;
  /** The calls every reply makes (default: get_weather for Paris, 3 days, metric). */
  calls: TextCall[];
  /** Text before the calls (default "Let me check."). */
  preamble: string;
  requests: Json[];
  close(): Promise<void>;
}

export const WEATHER_CALL: TextCall = {
  name: 'get_weather',
  arguments: { city: 'Paris', days: 3, metric: true, options: { lang: 'fr' } },
};

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  const chars = [...text];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}

/** The model id names the format: `hermes`, `glm47`, ... (anything after a `@` is ignored: `hermes@b`). */
export async function startTextToolModel(): Promise<TextToolModel> {
  const sockets = new Set<Socket>();
  const model: TextToolModel = {
    url: '',
    calls: [WEATHER_CALL],
    preamble: 'Let me check.',
    requests: [],
    close: async () => {},
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  async function answer(res: ServerResponse, body: Json): Promise<void> {
    const id = String(body['model']);
    const format = FORMATS[id.split('@')[0] as TextFormat];
    if (!format) return json(res, 404, { error: { message: `model ${id} not found`, code: 'model_not_found' } });
    const messages = (body['messages'] as Json[] | undefined) ?? [];
    const afterTool = messages.at(-1)?.['role'] === 'tool';
    const wholeReply = /^(llama3|mistral|deepseek|think)/.test(id);
    const calls = format(model.calls);
    const content = afterTool
      ? `It is sunny (${String(messages.at(-1)?.['content'])}).`
      : wholeReply || !model.preamble
        ? calls
        : `${model.preamble}\n\n${calls}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id: `chatcmpl-${Math.random().toString(36).slice(2)}`, created, model: id };
    // The server has no tool parser for this model: the calls stay text and the reply ends as `stop`.
    if (body['stream'] !== true)
      return json(res, 200, {
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 },
      });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (delta: Json, finish: string | null = null): string =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const frames = [chunk({ role: 'assistant', content: '' })];
    // 3 characters a delta: every marker is split across deltas, the hardest case for holding back
    for (const p of pieces(content, 3)) frames.push(chunk({ content: p }));
    frames.push(chunk({}, 'stop'));
    if ((body['stream_options'] as Json | undefined)?.['include_usage'])
      frames.push(
        `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 } })}\n\n`,
      );
    frames.push('data: [DONE]\n\n');
    for (const f of frames) {
      if (res.destroyed) return;
      res.write(f);
      await sleep(0);
    }
    res.end();
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method === 'GET' && path === '/v1/models') return json(res, 200, { object: 'list', data: [] });
      if (req.method !== 'POST' || path !== '/v1/chat/completions')
        return json(res, 404, { error: { message: `no route ${path}` } });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
      model.requests.push(body);
      answer(res, body).catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  model.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  model.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return model;
}
