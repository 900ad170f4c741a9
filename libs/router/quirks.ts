import type { NodeKind } from '@handoff/contracts';
import type { Json } from './json.ts';

/**
 * What the router smooths over per server `kind`, so that clients see one dependable
 * OpenAI-compatible server. Each entry is data (flags) plus small functions: `request` before
 * sending (requests.ts), normalising whole answers (answer.ts) and each stream chunk
 * (streamRewriters.ts), `error` to every error body, `unsupported` to 5xx answers that mean "this
 * node cannot do this request" (dispatch.ts).
 * Sources are named beside each rule; docs/router.md lists them.
 */

export interface ServerQuirks {
  kind: NodeKind;
  /** Rewrites a chat completions body (a fresh copy, `model` already the node's id) before it is sent. */
  request(body: Json): Json;
  /**
   * Answers are parsed and normalised (model name, reasoning field, usage). false: bytes pass
   * through untouched (the `openai` kind: the real API needs no help, and streams stay zero-copy).
   */
  normalise: boolean;
  /** Ask for usage in streams even when the client did not (tokens for metrics); the usage chunk is dropped on the way out. */
  askStreamUsage: boolean;
  /** A 5xx that says the node cannot serve this request (its configuration), not that it is down: fail over without counting a failure. */
  unsupported(status: number, text: string): string | null;
}

/** Drops top-level nulls: MLX validates the types of optional fields strictly (https://github.com/containers/ramalama/pull/2466). */
function withoutNulls(body: Json): Json {
  for (const key of Object.keys(body)) if (body[key] === null) delete body[key];
  return body;
}

/**
 * `max_completion_tokens` → `max_tokens` for servers that read only `max_tokens`: llama.cpp
 * (https://github.com/ggml-org/llama.cpp/issues/13700), MLX-LM (mlx_lm SERVER.md documents only
 * `max_tokens`), Ollama (https://docs.ollama.com/api/openai-compatibility lists `max_tokens`),
 * LM Studio. Without it the limit is silently ignored and the answer can run to the context's end.
 */
function maxTokensOnly(body: Json): Json {
  const mct = body['max_completion_tokens'];
  if (typeof mct === 'number') {
    const mt = body['max_tokens'];
    body['max_tokens'] = typeof mt === 'number' ? Math.min(mt, mct) : mct;
  }
  delete body['max_completion_tokens'];
  return body;
}

/**
 * LM Studio refuses `response_format: {type: "json_object"}` ("'response_format.type' must be
 * 'json_schema' or 'text'", https://github.com/t59688/arboris-novel/issues/23); a schema that
 * accepts any object asks for the same thing.
 */
function jsonObjectAsSchema(body: Json): Json {
  const rf = body['response_format'] as Json | undefined;
  if (rf?.['type'] === 'json_object')
    body['response_format'] = { type: 'json_schema', json_schema: { name: 'json_object', schema: { type: 'object' } } };
  return body;
}

/** llama.cpp without `--jinja` cannot take tools (https://github.com/ggml-org/llama.cpp/issues/10920, https://github.com/defilantech/LLMKube/issues/126). */
const LLAMACPP_NO_TOOLS = /requires --jinja|Unsupported param: tools/i;

const none = (): null => null;
const same = (body: Json): Json => body;

const QUIRKS: Record<NodeKind, ServerQuirks> = {
  openai: { kind: 'openai', request: same, normalise: false, askStreamUsage: false, unsupported: none },
  // vLLM: max_completion_tokens and stream_options are supported; it answers `reasoning` since
  // https://github.com/vllm-project/vllm/issues/27755 (older: `reasoning_content`); errors may be flat
  // ({object: "error", message, type, code}), see normaliseError.
  vllm: { kind: 'vllm', request: same, normalise: true, askStreamUsage: true, unsupported: none },
  // MLX-LM: only max_tokens; nulls refused; answers name the model by its path.
  mlx: {
    kind: 'mlx',
    request: (b) => maxTokensOnly(withoutNulls(b)),
    normalise: true,
    askStreamUsage: true,
    unsupported: none,
  },
  // Ollama: stream_options.include_usage is supported (https://docs.ollama.com/api/openai-compatibility);
  // reasoning comes as `reasoning`. A prompt over the loaded num_ctx is truncated silently
  // (https://github.com/ollama/ollama/issues/4967), so the router's own count is the only guard:
  // the node's contextWindow must be the num_ctx it runs with.
  ollama: { kind: 'ollama', request: maxTokensOnly, normalise: true, askStreamUsage: true, unsupported: none },
  // LM Studio: no usage in streams (https://github.com/lmstudio-ai/lmstudio-bug-tracker/issues/676),
  // errors as {"error": "text"}, unknown endpoints answered 200 + error.
  lmstudio: {
    kind: 'lmstudio',
    request: (b) => jsonObjectAsSchema(maxTokensOnly(b)),
    normalise: true,
    askStreamUsage: false,
    unsupported: none,
  },
  llamacpp: {
    kind: 'llamacpp',
    request: maxTokensOnly,
    normalise: true,
    askStreamUsage: true,
    unsupported: (status, text) =>
      status >= 500 && LLAMACPP_NO_TOOLS.test(text)
        ? 'this llama.cpp server cannot take tools (start it with --jinja)'
        : null,
  },
};

export function quirksFor(kind: NodeKind): ServerQuirks {
  return QUIRKS[kind];
}

export interface AnswerContext {
  /** The model id the router sent (the node's own name may differ: a path, a file name). */
  servedModel: string;
}

/** `reasoning` (vLLM ≥ 0.11, Ollama) → `reasoning_content` (DeepSeek, llama.cpp, older vLLM): one name for clients. */
function reasoningAsContent(m: Json | undefined): void {
  if (!m || !('reasoning' in m)) return;
  if (typeof m['reasoning'] === 'string' && m['reasoning_content'] === undefined)
    m['reasoning_content'] = m['reasoning'];
  delete m['reasoning'];
}

/** A whole chat completion or one stream chunk, normalised in place. */
export function normaliseAnswer(json: Json, ctx: AnswerContext): Json {
  if (typeof json['model'] === 'string') json['model'] = ctx.servedModel;
  const choices = json['choices'];
  if (Array.isArray(choices)) {
    for (const c of choices as Json[]) {
      reasoningAsContent(c['message'] as Json | undefined);
      reasoningAsContent(c['delta'] as Json | undefined);
    }
  }
  return json;
}

/** An `error` value in any of the shapes servers use, as OpenAI's {message, type, code}. */
function errorObject(value: unknown, status: number): Json {
  if (typeof value === 'string')
    return { message: value, type: status >= 500 ? 'server_error' : 'invalid_request_error', code: null };
  const e = (value && typeof value === 'object' ? value : {}) as Json;
  const message = typeof e['message'] === 'string' ? e['message'] : JSON.stringify(value);
  const type = typeof e['type'] === 'string' ? e['type'] : status >= 500 ? 'server_error' : 'invalid_request_error';
  // llama.cpp and vLLM put the HTTP status (a number) in `code`; OpenAI's `code` is a string or null.
  const code = typeof e['code'] === 'string' ? e['code'] : null;
  return { ...e, message, type, code };
}

/**
 * Any error body as OpenAI's `{error: {message, type, code}}`: JSON in the OpenAI shape is kept;
 * vLLM's flat `{object: "error", message, ...}`, LM Studio's `{error: "text"}` and non-JSON bodies
 * (an HTML page from Python's http.server in MLX-LM, a proxy's text) are rewritten.
 */
export function normaliseError(status: number, body: Buffer): Json {
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    const plain = text
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 500);
    return { error: errorObject(plain || `HTTP ${status} with an empty body`, status) };
  }
  const j = (json && typeof json === 'object' ? json : {}) as Json;
  if ('error' in j) return { error: errorObject(j['error'], status) };
  if (j['object'] === 'error' || typeof j['message'] === 'string' || typeof j['detail'] === 'string') {
    return { error: errorObject({ ...j, message: j['message'] ?? j['detail'] }, status) };
  }
  return { error: errorObject(text.slice(0, 500), status) };
}

/** A 200 whose body is an error and not an answer (LM Studio: "Unexpected endpoint or method. Returning 200 anyway"). */
export function isErrorAnswer(json: Json): boolean {
  return (
    json['error'] !== undefined &&
    json['error'] !== null &&
    !Array.isArray(json['choices']) &&
    !Array.isArray(json['output'])
  );
}
