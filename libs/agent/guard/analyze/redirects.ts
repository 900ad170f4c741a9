import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { placesOf, protectedTarget } from '../paths.ts';
import { RUNS_LATER } from '../programSettings.ts';
import { evalWord, single } from '../words.ts';
import { pipeline } from './pipelines.ts';
import type { Scope } from './scope.ts';
import { noteWritten } from './written.ts';

/**
 * Redirects: `> file` writes (inside the sandbox only, never a device, a git hook or a
 * credential), `< file` reads, `/dev/tcp/…` is the network. Here-docs feed a command's stdin
 * (stdin.ts reads them for the shell that runs them).
 */

export function redirect(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  const destination = node.childForFieldName('destination');
  a.walkChildren(node, scope, depth);
  if (!destination) return;
  const op = node.children.find((c) => c && !c.isNamed)?.text ?? '>';
  const word = evalWord(destination, a.wordEnv(scope));
  const value = single(word);
  if ((op === '>&' || op === '<&' || op === '>&-' || op === '<&-') && value !== null && /^(\d+|-)$/.test(value)) return;
  const ctx = a.pathContext(scope);
  for (const v of word.values ?? [word.prefix]) {
    if (/^\/dev\/(tcp|udp)\//.test(v)) {
      a.add('deny', 'deny.network-redirect', node.text);
      return;
    }
  }
  const secret = protectedTarget(word, ctx, a.opts.protectedPaths);
  if (secret) {
    a.add('deny', 'deny.credentials', node.text, false, `touches protected path ${secret}`);
    return;
  }
  if (op === '<' || op === '<&') {
    if (!a.opts.isolated && !placesOf(word, ctx).every((p) => p === 'inside' || p === 'sandboxRoot')) {
      a.add(
        'ask',
        'ask.not-isolated',
        node.text,
        false,
        'reads a file outside the sandbox, and no OS sandbox holds the command',
      );
    }
    return;
  }
  noteWritten(a, [word], scope.cwd);
  if ((word.values ?? [word.prefix]).some((v) => RUNS_LATER.test(v.replace(/\/+$/, ''))))
    a.add('ask', 'ask.git-hooks', node.text);
  const places = placesOf(word, ctx);
  if (places.includes('device')) a.add('deny', 'deny.redirect-device', node.text);
  else if (places.includes('outside')) a.add('deny', 'deny.redirect-outside-sandbox', node.text);
  else if (places.includes('unresolved')) a.add('ask', 'ask.redirect-unresolved', node.text);
}

export function heredoc(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  for (const child of node.namedChildren) {
    if (!child) continue;
    // `cat <<EOF | sh`: tree-sitter hangs the pipeline under the here-doc; its producer is the statement.
    if (child.type === 'pipeline' && node.parent)
      pipeline(a, child, scope, depth, node.parent.type === 'redirected_statement' ? node.parent : undefined);
    else a.walk(child, scope, depth);
  }
}
