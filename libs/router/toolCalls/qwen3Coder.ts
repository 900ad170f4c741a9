import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from './hermes.ts';
import { endAfter, inner } from './tags.ts';
import type { BlockFormat, RawCall } from './types.ts';

/**
 * Qwen3-Coder XML, from Qwen3-Coder-30B-A3B-Instruct's chat_template.jinja:
 * `<tool_call>\n<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n...</function>\n</tool_call>`.
 * Values are text (the template writes non-strings with `tojson`): the declared schema types them
 * (coerce.ts). One newline on each side of a value belongs to the template and is dropped, as vLLM's
 * qwen3_coder parser does. Some quantisations drop the `<tool_call>` wrapper: a bare
 * `<function=...>...</function>` is read too.
 */
const FUNCTION_OPEN = '<function=';
const FUNCTION = /<function=([^>\n]+)>([\s\S]*?)(?:<\/function>|$)/g;
const PARAMETER = /<parameter=([^>\n]+)>([\s\S]*?)(?:<\/parameter>|(?=<parameter=)|(?=<\/function>)|$)/g;

function parseFunctions(text: string): RawCall[] | null {
  const calls: RawCall[] = [];
  for (const fn of text.matchAll(FUNCTION)) {
    const args: Record<string, string> = {};
    for (const p of (fn[2] ?? '').matchAll(PARAMETER)) {
      args[(p[1] ?? '').trim()] = (p[2] ?? '').replace(/^\n/, '').replace(/\n$/, '');
    }
    calls.push({ name: (fn[1] ?? '').trim(), arguments: args });
  }
  return calls.length > 0 ? calls : null;
}

export const qwen3Coder: BlockFormat = {
  parser: 'qwen3_coder',
  open: TOOL_CALL_OPEN,
  end: endAfter(TOOL_CALL_CLOSE),
  parse(block) {
    const text = inner(block, TOOL_CALL_OPEN, TOOL_CALL_CLOSE).trim();
    return text.startsWith(FUNCTION_OPEN) ? parseFunctions(text) : null;
  },
};

export const qwen3CoderBare: BlockFormat = {
  parser: 'qwen3_coder',
  open: FUNCTION_OPEN,
  end: endAfter('</function>'),
  parse: parseFunctions,
};
