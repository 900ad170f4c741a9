import { isObject, jsonValues } from './json.ts';
import { endAfter, inner } from './tags.ts';
import type { BlockFormat, RawCall } from './types.ts';

/**
 * Hermes / Qwen 2.5 / Qwen3: `<tool_call>\n{"name": "NAME", "arguments": {...}}\n</tool_call>`, one
 * block per call. The bytes follow the `tool_call` loop of Qwen2.5-7B-Instruct's and Qwen3's
 * tokenizer_config.json chat template (`'<tool_call>\n{"name": "' + name + '", "arguments": ' +
 * arguments|tojson + '}\n</tool_call>'`) and NousResearch/Hermes-2-Pro's model card. Some models
 * write `parameters` for `arguments`, or several objects in one block: both are read.
 */
export const TOOL_CALL_OPEN = '<tool_call>';
export const TOOL_CALL_CLOSE = '</tool_call>';

/** `{"name", "arguments"|"parameters"}` objects (arrays of them too) as calls, or null when any is not one. */
export function callsOfObjects(values: unknown[]): RawCall[] | null {
  const calls: RawCall[] = [];
  for (const value of values.flatMap((v) => (Array.isArray(v) ? (v as unknown[]) : [v]))) {
    if (!isObject(value)) return null;
    const fn = isObject(value['function']) ? value['function'] : value;
    if (typeof fn['name'] !== 'string') return null;
    calls.push({ name: fn['name'], arguments: fn['arguments'] ?? fn['parameters'] });
  }
  return calls.length > 0 ? calls : null;
}

export const hermes: BlockFormat = {
  parser: 'hermes',
  open: TOOL_CALL_OPEN,
  end: endAfter(TOOL_CALL_CLOSE),
  parse(block) {
    const text = inner(block, TOOL_CALL_OPEN, TOOL_CALL_CLOSE).trim();
    if (!text.startsWith('{') && !text.startsWith('[')) return null;
    const values = jsonValues(text);
    return values ? callsOfObjects(values) : null;
  },
};
