import { callsOfObjects } from './hermes.ts';
import { jsonValueEnd, jsonValues, tryJson } from './json.ts';
import type { BlockFormat } from './types.ts';

/**
 * Mistral: `[TOOL_CALLS][{"name": "NAME", "arguments": {...}, "id": "..."}]` (Mistral-7B-Instruct-v0.3,
 * Mistral-Nemo: tokenizer v3 chat templates) and, from tokenizer v11 on (Mistral-Small-3.2,
 * Devstral, Magistral: mistral-common's `[TOOL_CALLS]` + name + `[ARGS]` + arguments),
 * `[TOOL_CALLS]NAME[ARGS]{...}` with one marker per call (`[CALL_ID]id` may sit before `[ARGS]`).
 * There is no closing marker: a block ends where its JSON value does.
 */
const OPEN = '[TOOL_CALLS]';
const ARGS = '[ARGS]';
const NAMED = /^([^[\s]+)(?:\[CALL_ID\][^[]*)?\[ARGS\]([\s\S]*)$/;

function end(rest: string): number {
  const start = rest.search(/\S/);
  if (start < 0) return -1;
  if (rest[start] === '[' || rest[start] === '{') return jsonValueEnd(rest, start);
  const args = rest.indexOf(ARGS);
  if (args < 0) return -1;
  const brace = rest.slice(args + ARGS.length).search(/\S/);
  if (brace < 0) return -1;
  return jsonValueEnd(rest, args + ARGS.length + brace);
}

export const mistral: BlockFormat = {
  parser: 'mistral',
  open: OPEN,
  end,
  parse(block) {
    const rest = block.slice(OPEN.length).trim();
    if (rest.startsWith('[') || rest.startsWith('{')) {
      const values = jsonValues(rest);
      return values ? callsOfObjects(values) : null;
    }
    const m = NAMED.exec(rest);
    if (!m) return null;
    const args = tryJson((m[2] ?? '').trim());
    if (args === undefined) return null;
    return [{ name: m[1] ?? '', arguments: args }];
  },
};
