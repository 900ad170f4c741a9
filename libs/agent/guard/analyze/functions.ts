import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';

/**
 * Shell functions: a body is judged where it is defined; a call only forgets what the body may
 * change in the caller's shell. Every definition goes into `Analyzer.functionGraph`, which finds
 * fork bombs once the whole command line has been walked.
 */

export interface FunctionInfo {
  /** Command names the body calls. */
  calls: Set<string>;
  /** The body starts processes with `|` or `&`. */
  spawns: boolean;
  text: string;
}

export function functionDefinition(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  const name = node.childForFieldName('name')?.text ?? '';
  const body = node.childForFieldName('body');
  scope.functions.add(name);
  if (!body) return;
  const calls = new Set(body.descendantsOfType('command_name').map((n) => n?.text.replace(/\\|['"]/g, '') ?? ''));
  const spawns =
    body.descendantsOfType(['pipeline', '&']).length > 0 ||
    /(^|[^&])&(?!&)/.test(body.text.replace(/&&|&>|>&|<&/g, ''));
  a.functionGraph.set(name, { calls, spawns, text: node.text });
  // The body is judged where it is defined; positional parameters are unknown there.
  const inner = childScope(scope);
  inner.functions.add(name);
  a.walk(body, inner, depth);
}

/**
 * A call of a function defined earlier. Its body was judged where it was defined; what it changes
 * in the caller's shell (cd, variables) is not followed, so those become unknown.
 */
export function functionCall(a: Analyzer, name: string, scope: Scope): void {
  const body = a.functionGraph.get(name)?.text;
  if (body !== undefined) forgetChangesOf(body, scope);
}

/**
 * Code run in this shell but judged apart (a function body, a sourced file, a trap) may `cd` or
 * assign: afterwards the working directory and the variables it names are unknown.
 */
export function forgetChangesOf(code: string, scope: Scope): void {
  if (/(^|[\s;&|(){}`])(cd|pushd|popd)(\s|;|$|\))/.test(code)) scope.cwd = null;
  for (const name of scope.vars.keys()) {
    if (name === 'HANDOFF_HOME') continue;
    const escaped = name.replace(/[^A-Za-z0-9_]/g, '\\$&');
    if (new RegExp(`(^|[^A-Za-z0-9_$])${escaped}([^A-Za-z0-9_]|$)`).test(code)) scope.vars.set(name, null);
  }
}

/** A function that reaches itself (directly or through others) and spawns with `|` or `&`: a fork bomb. */
export function forkBombs(a: Analyzer): void {
  for (const [name, fn] of a.functionGraph) {
    if (!fn.spawns) continue;
    const seen = new Set<string>();
    const stack = [...fn.calls];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (next === name) {
        a.add('deny', 'deny.fork-bomb', fn.text);
        return;
      }
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(a.functionGraph.get(next)?.calls ?? []));
    }
  }
}
