import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { evalWord, single, unknownWord } from '../words.ts';
import type { Word } from '../words.ts';
import type { Scope } from './scope.ts';

/** Where a command's stdin comes from, when a shell might run it as code. */
/**
 * Where stdin comes from. `text` is a here-doc's text; `computed` when its delimiter is unquoted
 * and the text holds expansions (`$X`, `$(…)`, backticks) that bash fills in at run time.
 */
export type Stdin =
  | { kind: 'text'; text: string; computed?: boolean }
  | { kind: 'word'; word: Word }
  | { kind: 'file'; word: Word }
  | null;
/** Stdin, worked out only when a shell or interpreter asks (it walks up the tree, which is slow). */
export type StdinOf = () => Stdin;
export const NO_STDIN: StdinOf = () => null;

/** Where stdin stops being inherited from an enclosing statement's redirects. */
const STDIN_BOUNDARIES = new Set([
  'program',
  'command_substitution',
  'process_substitution',
  'pipeline',
  'function_definition',
]);

/** A command's stdin from its own redirects (`<<EOF`, `<<<`, `<`), or the nearest enclosing statement's. */
export function stdinOf(a: Analyzer, node: Node, scope: Scope): Stdin {
  const redirects: Node[] = [];
  for (let i = 0; i < node.childCount; i++)
    if (node.fieldNameForChild(i) === 'redirect' && node.child(i)) redirects.push(node.child(i) as Node);
  // The nearest enclosing statement's redirects feed this command too: `{ a; bash; } <<EOF`, and
  // tree-sitter hangs `true && bash <<EOF` on the whole list. Over-approximating is the safe side.
  let child: Node = node;
  for (let up = node.parent; up && !STDIN_BOUNDARIES.has(up.type); child = up, up = up.parent) {
    if (up.type !== 'redirected_statement' || up.childForFieldName('body')?.id !== child.id) continue;
    for (let i = 0; i < up.childCount; i++)
      if (up.fieldNameForChild(i) === 'redirect' && up.child(i)) redirects.push(up.child(i) as Node);
    if (redirects.length > 0) break;
  }
  for (const r of redirects) {
    if (r.type === 'heredoc_redirect') {
      const text = heredocText(r);
      const unquoted = !/['"\\]/.test(r.children.find((c) => c?.type === 'heredoc_start')?.text ?? '');
      return { kind: 'text', text, computed: unquoted && /\$[A-Za-z_{(]|`/.test(text) };
    }
    if (r.type === 'herestring_redirect') {
      const arg = r.namedChildren.find((c) => c !== null);
      return arg ? { kind: 'word', word: evalWord(arg, a.wordEnv(scope)) } : null;
    }
    if (r.type === 'file_redirect' && r.children.some((c) => c?.text === '<&' || c?.text === '<>')) {
      const dest = single(evalWord(r.childForFieldName('destination') ?? r, a.wordEnv(scope)));
      if (dest !== '-' && dest !== '0') return { kind: 'file', word: unknownWord(r.text) };
    }
    if (r.type === 'file_redirect' && r.children.some((c) => c?.text === '<')) {
      const dest = r.childForFieldName('destination');
      if (dest) return { kind: 'file', word: evalWord(dest, a.wordEnv(scope)) };
    }
  }
  return null;
}

/**
 * The text a here-doc feeds, cut from the source between its first line end and its delimiter
 * (tree-sitter's heredoc_body is unreliable, e.g. when the body starts with a backslash). An
 * unquoted delimiter means bash first removes the backslash before \\, \$, \` and newline.
 */
export function heredocText(redirect: Node): string {
  const start = redirect.children.find((c) => c?.type === 'heredoc_start');
  const end = redirect.children.find((c) => c?.type === 'heredoc_end');
  const body = redirect.descendantsOfType('heredoc_body')[0]?.text ?? '';
  if (!start || !end) return body;
  const source = redirect.tree.rootNode.text;
  const lineEnd = source.indexOf('\n', start.endIndex);
  if (lineEnd < 0 || lineEnd >= end.startIndex) return body;
  const text = source.slice(lineEnd + 1, end.startIndex);
  const quoted = /['"\\]/.test(start.text);
  return quoted ? text : text.replace(/\\([\\$`\n])/g, (_m, c: string) => (c === '\n' ? '' : c));
}
