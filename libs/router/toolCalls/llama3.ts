import { callsOfObjects } from './hermes.ts';
import { jsonValues } from './json.ts';
import type { WholeReplyFormat } from './types.ts';

/**
 * Llama 3.1 / 3.2 / 3.3 JSON tool calls: the whole reply is `{"name": "NAME", "parameters": {...}}`
 * (meta-llama/Llama-3.1-8B-Instruct model card and chat template, "JSON based tool calling"),
 * optionally after `<|python_tag|>`, several separated by `;` (Llama 3.2). The reply is held from
 * its first `{` and decided when it ends; one that cannot be a call (`{"answer": ...}`) goes out
 * as text as soon as its first key says so.
 */
const PYTHON_TAG = '<|python_tag|>';
const KEYS = ['name"', 'type"', 'function"'];

export const llama3: WholeReplyFormat = {
  parser: 'llama3',
  mayBe(start) {
    let s = start.trimStart();
    if (PYTHON_TAG.startsWith(s)) return true;
    if (s.startsWith(PYTHON_TAG)) s = s.slice(PYTHON_TAG.length).trimStart();
    if (s === '') return true;
    if (!s.startsWith('{')) return false;
    s = s.slice(1).trimStart();
    if (s === '') return true;
    if (!s.startsWith('"')) return false;
    s = s.slice(1);
    return KEYS.some((k) => k.startsWith(s) || s.startsWith(k));
  },
  parse(reply) {
    let s = reply.trim();
    if (s.startsWith(PYTHON_TAG)) s = s.slice(PYTHON_TAG.length);
    s = s.replace(/(<\|eom_id\|>|<\|eot_id\|>)\s*$/, '').trim();
    const values = jsonValues(s);
    return values ? callsOfObjects(values) : null;
  },
};
