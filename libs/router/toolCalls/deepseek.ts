import { endAfter } from './tags.ts';
import type { BlockFormat, RawCall } from './types.ts';

/**
 * DeepSeek's special-token blocks. V3 / R1 (deepseek-ai/DeepSeek-V3-0324 tokenizer_config.json chat
 * template): `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{...}\n```
 * <｜tool▁call▁end｜>...<｜tool▁calls▁end｜>`. V3.1 (deepseek-ai/DeepSeek-V3.1 chat template, llama.cpp
 * PR 15533) drops the type and the fence: `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜>`.
 * Both are read. The bars are U+FF5C and the spaces U+2581, as the tokenizer spells them; some GGUF
 * conversions print the bars as ASCII `|`, read too (`deepseekAscii`).
 */
export const CALLS_BEGIN = '<｜tool▁calls▁begin｜>';
const CALLS_END = '<｜tool▁calls▁end｜>';
const CALL = /<｜tool▁call▁begin｜>([\s\S]*?)(?:<｜tool▁call▁end｜>|$)/g;
const SEP = '<｜tool▁sep｜>';

function unfence(text: string): string {
  const m = /^```(?:json)?\s*\n?([\s\S]*?)\n?```\s*$/.exec(text.trim());
  return (m ? (m[1] ?? '') : text).trim();
}

function parse(block: string): RawCall[] | null {
  const calls: RawCall[] = [];
  for (const m of block.matchAll(CALL)) {
    const body = m[1] ?? '';
    const sep = body.indexOf(SEP);
    if (sep < 0) return null;
    const left = body.slice(0, sep).trim();
    const right = body.slice(sep + SEP.length);
    const newline = right.indexOf('\n');
    const v3 = left === 'function' && newline > 0;
    const name = v3 ? right.slice(0, newline).trim() : left;
    calls.push({ name, arguments: unfence(v3 ? right.slice(newline + 1) : right) });
  }
  return calls.length > 0 ? calls : null;
}

export const deepseek: BlockFormat = { parser: 'deepseek', open: CALLS_BEGIN, end: endAfter(CALLS_END), parse };

const ascii = (token: string): string => token.replaceAll('｜', '|');

export const deepseekAscii: BlockFormat = {
  parser: 'deepseek',
  open: ascii(CALLS_BEGIN),
  end: endAfter(ascii(CALLS_END)),
  parse: (block) => parse(block.replace(/<\|(tool▁[a-z▁]+)\|>/g, '<｜$1｜>')),
};
