import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A fake OpenAI-compatible server that replays scripted turns (see scriptedModel.md). A script is
 * chosen by a marker string found in the conversation's first user message, so one fake serves
 * several runs at once; each script answers its turns in order and records what it was sent.
 */
export interface ScriptedToolCall {
  /** Omitted: the call is streamed with no id, like some local servers do. */
  id?: string;
  name: string;
  /** An object is sent as JSON; a string is sent as is (malformed JSON on purpose). */
  arguments: string | Record<string, unknown>;
}

export interface ScriptedTurn {
  text?: string;
  toolCalls?: ScriptedToolCall[];
  /** false: send no usage chunk (the loop must estimate). */
  usage?: false;
  /** An HTTP error instead of an answer. */
  status?: 429 | 500;
}

export interface RecordedRequest {
  body: Record<string, unknown>;
  messages: { role: string; content?: unknown; tool_call_id?: string; tool_calls?: unknown[] }[];
}

export interface Script {
  marker: string;
  turns: ScriptedTurn[];
  /** Requests this script answered, in order. */
  requests: RecordedRequest[];
}

export interface ScriptedModel {
  /** Base URL up to /v1. */
  url: string;
  modelId: string;
  /** Adds a script; its marker must appear in the task (the first user message). */
  script(marker: string, turns: ScriptedTurn[]): Script;
  /** Requests whose task matched no script. */
  unmatched: RecordedRequest[];
  /** The `nodes.json` fleet that points the router at this fake. */
  fleet(): unknown;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export async function startScriptedModel(
  opts: { modelId?: string; chunkDelayMs?: number } = {},
): Promise<ScriptedModel> {
  const modelId = opts.modelId ?? 'scripted';
  const chunkDelay = opts.chunkDelayMs ?? 1;
  const scripts: Script[] = [];
  const sockets = new Set<Socket>();
  const unmatched: RecordedRequest[] = [];

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  async function answer(res: ServerResponse, body: Json, turn: ScriptedTurn): Promise<void> {
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const created = Math.floor(Date.now() / 1000);
    const frames: string[] = [];
    const chunk = (delta: Json, finish: string | null = null): void => {
      frames.push(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
      );
    };
    chunk({ role: 'assistant', content: '' });
    for (const p of pieces(turn.text ?? '', 5)) chunk({ content: p });
    (turn.toolCalls ?? []).forEach((call, index) => {
      const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
      const head: Json = { index, type: 'function', function: { name: call.name, arguments: '' } };
      if (call.id) head['id'] = call.id;
      chunk({ tool_calls: [head] });
      // argument deltas split across chunks, as real servers stream them
      for (const p of pieces(args, 3)) chunk({ tool_calls: [{ index, function: { arguments: p } }] });
    });
    chunk({}, (turn.toolCalls ?? []).length > 0 ? 'tool_calls' : 'stop');
    const streamOptions = body['stream_options'] as Json | undefined;
    if (turn.usage !== false && streamOptions?.['include_usage']) {
      const prompt = JSON.stringify(body['messages']).length >> 2;
      const completion = ((turn.text ?? '').length + JSON.stringify(turn.toolCalls ?? []).length) >> 2;
      frames.push(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`,
      );
    }
    frames.push('data: [DONE]\n\n');

    if (body['stream'] !== true) {
      // Not used by the agent, but a fake must not lie: answer a whole message.
      const message: Json = { role: 'assistant', content: turn.text ?? null };
      if (turn.toolCalls?.length) {
        message['tool_calls'] = turn.toolCalls.map((c, i) => ({
          id: c.id ?? `call_${i}`,
          type: 'function',
          function: {
            name: c.name,
            arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
          },
        }));
      }
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: modelId,
        choices: [{ index: 0, message, finish_reason: turn.toolCalls?.length ? 'tool_calls' : 'stop' }],
      });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    for (const frame of frames) {
      if (res.destroyed) return;
      res.write(frame);
      if (chunkDelay > 0) await sleep(chunkDelay);
    }
    res.end();
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method === 'GET' && path === '/v1/models') {
        return json(res, 200, {
          object: 'list',
          data: [{ id: modelId, object: 'model', created: 0, owned_by: 'fake' }],
        });
      }
      if (req.method !== 'POST' || path !== '/v1/chat/completions')
        return json(res, 404, { error: { message: `no route ${path}` } });
      let body: Json;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
      } catch {
        return json(res, 400, { error: { message: 'invalid JSON', type: 'invalid_request_error' } });
      }
      if (body['model'] !== modelId)
        return json(res, 404, {
          error: { message: `model ${String(body['model'])} not found`, code: 'model_not_found' },
        });
      const messages = (body['messages'] as RecordedRequest['messages'] | undefined) ?? [];
      const recorded: RecordedRequest = { body, messages };
      const task = String(messages.find((m) => m.role === 'user')?.content ?? '');
      const script = scripts.find((s) => task.includes(s.marker));
      if (!script) {
        unmatched.push(recorded);
        return json(res, 400, { error: { message: 'no script matches this task', type: 'invalid_request_error' } });
      }
      const turn = script.turns[script.requests.length] ?? { text: '(script exhausted)' };
      script.requests.push(recorded);
      if (turn.status)
        return json(res, turn.status, {
          error: { message: turn.status === 429 ? 'rate limited' : 'internal error', type: 'server_error' },
        });
      answer(res, body, turn).catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/v1`;

  return {
    url,
    modelId,
    unmatched,
    script(marker, turns) {
      const script: Script = { marker, turns, requests: [] };
      scripts.push(script);
      return script;
    },
    fleet: () => ({
      nodes: [{ id: 'scripted', baseUrl: url, kind: 'llamacpp', models: [{ id: modelId, contextWindow: 131072 }] }],
    }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
