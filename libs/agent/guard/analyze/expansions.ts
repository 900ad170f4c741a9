import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { FETCHERS, commandBase, findParts, subcommandOf } from '../commandFacts.ts';
import { placesOf } from '../paths.ts';
import { evalWord, single } from '../words.ts';
import type { Word } from '../words.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';

/**
 * Words as bash expands them: a command's words after word splitting, command substitutions
 * (backticks included), substitutions that download, and substitutions that only list paths.
 */

/** `$(…)` and `` `…` ``: judged as the command line they are, in a subshell. */
export function commandSubstitution(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  if (node.text.startsWith('`')) {
    // Inside backticks bash first removes the backslash before \\, \$ and \`: judge that text.
    const inner = node.text.slice(1, node.text.endsWith('`') ? -1 : undefined).replace(/\\([\\$`])/g, '$1');
    a.analyzeSource(inner, childScope(scope), depth + 1);
    return;
  }
  a.walkChildren(node, childScope(scope), depth);
}

/** The words of a command node: name then arguments (assignments and redirects left out). */
export function commandWords(a: Analyzer, node: Node, scope: Scope): Word[] {
  const words: Word[] = [];
  const env = a.wordEnv(scope);
  for (let i = 0; i < node.childCount; i++) {
    const field = node.fieldNameForChild(i);
    const child = node.child(i);
    if (!child) continue;
    if (field === 'name' || field === 'argument')
      words.push(...splitUnquoted(evalWord(child, env), scope.vars.has('IFS')));
  }
  return words;
}

/**
 * Bash splits an unquoted expansion's value into words: `x='a /etc'; rm -rf $x` removes `a` and
 * `/etc`. A value with blanks becomes several words; after `IFS=…` the split is not followed.
 */
function splitUnquoted(word: Word, ifsChanged: boolean): Word[] {
  const node = word.node;
  if (!node || word.values === null) return [word];
  const expansions =
    node.type === 'simple_expansion' || node.type === 'expansion'
      ? [node]
      : node.type === 'concatenation'
        ? node.namedChildren.filter((c) => c?.type === 'simple_expansion' || c?.type === 'expansion')
        : [];
  if (expansions.length === 0) return [word];
  const unknownSplit: Word = { ...word, values: null, prefix: '' };
  if (ifsChanged) return [unknownSplit];
  if (!word.values.some((v) => /[ \t\n]/.test(v))) return [word];
  if (word.values.length !== 1 || node.type === 'concatenation') return [unknownSplit];
  return (word.values[0] ?? '')
    .split(/[ \t\n]+/)
    .filter(Boolean)
    .map((v) => ({ ...word, values: [v] }));
}

/** Does a word contain a substitution that downloads (`$(curl ..)`, `<(wget ..)`, `/dev/tcp`) or a variable holding such text? */
export function fetches(word: Word, scope: Scope): boolean {
  if (!word.node) return false;
  if (scope.fetched.size > 0) {
    const refs = word.node.descendantsOfType('variable_name').map((n) => n?.text ?? '');
    if (word.node.type === 'simple_expansion' || word.node.type === 'expansion')
      refs.push(word.node.namedChildren[0]?.text ?? '');
    if (refs.some((r) => scope.fetched.has(r))) return true;
  }
  if (!word.substitution) return false;
  if (/\/dev\/(tcp|udp)\//.test(word.text)) return true;
  return word.node.descendantsOfType('command_name').some((n) => {
    const base = n ? commandBase(n.text.replace(/\\|['"]/g, '')) : null;
    return base !== null && FETCHERS.has(base);
  });
}

/**
 * `node --test $(find . -name '*.test.js')`, `wc -l $(git ls-files)`: a substitution that only
 * lists paths under roots inside the sandbox yields paths inside it.
 */
export function listsInside(a: Analyzer, word: Word, scope: Scope): boolean {
  const node = word.node;
  if (!node || !/^"?\$\([\s\S]*\)"?$/.test(word.text)) return false;
  const substitution =
    node.type === 'command_substitution' ? node : node.namedChildren.find((c) => c?.type === 'command_substitution');
  if (!substitution || substitution.namedChildCount !== 1) return false;
  const body = substitution.namedChildren[0] as Node;
  const stages = body.type === 'pipeline' ? body.namedChildren.filter((c): c is Node => c !== null) : [body];
  const ctx = a.pathContext(scope);
  return stages.every((stage, i) => {
    if (stage.type !== 'command') return false;
    const words = commandWords(a, stage, scope);
    const name = single(words[0]);
    const args = words.slice(1);
    const texts = args.map((w) => single(w));
    if (texts.some((t) => t === null)) return false;
    const paths = (skip: number): boolean =>
      args
        .filter((w) => !(single(w) ?? '-').startsWith('-'))
        .slice(skip)
        .every((w) => placesOf(w, ctx).every((p) => p === 'inside' || p === 'sandboxRoot'));
    // Later stages may only filter the names (`| sort`, `| grep test`, `| head`).
    if (i > 0)
      return (
        ['sort', 'uniq', 'head', 'tail', 'grep', 'egrep'].includes(name ?? '') &&
        !texts.some((t) => /^-(f|-file)/.test(t ?? ''))
      );
    if (name === 'find')
      return (
        findParts(args).roots.every((r) => placesOf(r, ctx).every((p) => p === 'inside' || p === 'sandboxRoot')) &&
        !texts.some((t) => /^-(exec|execdir|ok|okdir|delete|fprint|fprint0|fprintf|fls|L|follow)$/.test(t ?? ''))
      );
    if (name === 'ls') return paths(0);
    if (name === 'git')
      return (
        ['ls-files', 'diff'].includes(subcommandOf('git', args) ?? '') &&
        (subcommandOf('git', args) === 'ls-files' || texts.includes('--name-only')) &&
        !texts.some((t) => /^(-C|--git-dir|--work-tree)/.test(t ?? ''))
      );
    if (name === 'rg')
      return (texts.includes('--files') || texts.includes('-l')) && paths(texts.includes('--files') ? 0 : 1);
    if (name === 'grep' || name === 'egrep') return texts.some((t) => /^-[a-zA-Z]*l/.test(t ?? '')) && paths(1);
    return false;
  });
}
