import { TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from './hermes.ts';
import { endAfter, inner } from './tags.ts';
import type { BlockFormat } from './types.ts';

/**
 * GLM-4.5 / 4.6 / 4.7: `<tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n...</tool_call>`,
 * from zai-org/GLM-4.5's chat_template.jinja (`<tool_call>` + name, then per argument
 * `<arg_key>`/`<arg_value>` with non-strings written `tojson`). GLM-4.7 writes the same without the
 * newlines (llama.cpp common/chat: "Format: <tool_call>function_name<arg_key>key</arg_key>
 * <arg_value>value</arg_value></tool_call>"). Values are text typed by the declared schema.
 */
const ARG = /<arg_key>([\s\S]*?)<\/arg_key>\s*<arg_value>([\s\S]*?)(?:<\/arg_value>|$)/g;

export const glm45: BlockFormat = {
  parser: 'glm45',
  open: TOOL_CALL_OPEN,
  end: endAfter(TOOL_CALL_CLOSE),
  parse(block) {
    const text = inner(block, TOOL_CALL_OPEN, TOOL_CALL_CLOSE);
    const cut = text.search(/<arg_key>|\n/);
    const name = (cut < 0 ? text : text.slice(0, cut)).trim();
    if (!/^[A-Za-z0-9_.:-]+$/.test(name)) return null;
    const args: Record<string, string> = {};
    for (const m of text.matchAll(ARG)) args[(m[1] ?? '').trim()] = m[2] ?? '';
    return [{ name, arguments: args }];
  },
};
