import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { evalWord } from '../words.ts';
import { childScope, mergeScopes, sameScope } from './scope.ts';
import type { Scope } from './scope.ts';

/**
 * Lists, branches and loops: what runs only sometimes changes the shell only maybe. Each way
 * is walked on a copy of the scope and merged back, so what differs between them is unknown.
 */

/** Loop bodies judged a second time (with what one pass changes) per check. */
const MAX_SECOND_PASSES = 16;

/**
 * `a && b`, `a || b`: `scope` becomes the state after the list whichever way it went (what
 * differs between the ways is unknown); the return value is the state when it succeeded, which
 * the right side of an enclosing `&&` sees. `mkdir b && cd b && rm -rf *` judges rm in b;
 * `x=/etc; true || x=build && rm -rf $x` does not take x for build.
 */
export function andOr(a: Analyzer, node: Node, scope: Scope, depth: number): Scope {
  if (node.type !== 'list') {
    a.walk(node, scope, depth);
    return childScope(scope);
  }
  const [left, right] = node.namedChildren.filter((c): c is Node => c !== null);
  const op = node.children.find((c) => c !== null && !c.isNamed && (c.text === '&&' || c.text === '||'))?.text ?? '&&';
  if (!left || !right) {
    a.walkChildren(node, scope, depth);
    return childScope(scope);
  }
  const okLeft = andOr(a, left, scope, depth);
  const start = op === '&&' ? okLeft : childScope(scope);
  const okRight = andOr(a, right, start, depth);
  const ok = op === '&&' ? okRight : mergeScopes(okLeft, okRight);
  mergeScopes(scope, start);
  return ok;
}

/** Code that may or may not run (a case item): walked on a copy, merged back as uncertain. */
function branch(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  const copy = childScope(scope);
  a.walk(node, copy, depth);
  mergeScopes(scope, copy);
}

export function ifStatement(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  const then: Node[] = [];
  const others: Node[] = [];
  for (let i = 0; i < node.childCount; i++) {
    const child = node.child(i);
    if (!child?.isNamed) continue;
    if (node.fieldNameForChild(i) === 'condition') a.walk(child, scope, depth);
    else if (child.type === 'elif_clause' || child.type === 'else_clause') others.push(child);
    else then.push(child);
  }
  // The then-branch's statements run in order on one copy; each elif/else on its own.
  const copy = childScope(scope);
  for (const statement of then) a.walk(statement, copy, depth);
  const states = [copy];
  for (const other of others) {
    const way = childScope(scope);
    a.walk(other, way, depth);
    states.push(way);
  }
  for (const state of states) mergeScopes(scope, state);
}

export function caseStatement(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  for (const child of node.namedChildren) {
    if (!child) continue;
    if (child.type !== 'case_item') a.walk(child, scope, depth);
    else branch(a, child, scope, depth);
  }
}

export function whileStatement(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  forkingLoop(a, node);
  const condition = node.childForFieldName('condition');
  if (condition) a.walk(condition, scope, depth);
  const body = node.childForFieldName('body');
  if (body) loopBody(a, body, scope, depth);
}

/** `for ((i = 0; i < n; i++))` */
export function cStyleFor(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  for (const child of node.namedChildren)
    if (child && child !== node.childForFieldName('body')) a.walk(child, scope, depth);
  const body = node.childForFieldName('body');
  if (body) loopBody(a, body, scope, depth);
}

/** `for x in a b c`: x holds each value (a glob's matches stand for themselves by a path in its directory). */
export function forStatement(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  const variable = node.childForFieldName('variable')?.text;
  const values = node.childrenForFieldName('value').filter((n): n is Node => n !== null);
  let all: string[] | null = [];
  for (const v of values) {
    a.walk(v, scope, depth);
    const word = evalWord(v, a.wordEnv(scope));
    if (word.values === null || all === null) all = null;
    else if (word.glob) {
      // A glob's matches stay in its directory: stand for them by a path there.
      all.push(...word.values.map((g) => g.replace(/[*?[].*$/, 'match')));
    } else all.push(...word.values);
  }
  if (variable) scope.vars.set(variable, values.length === 0 ? null : all);
  const body = node.childForFieldName('body');
  if (body) loopBody(a, body, scope, depth);
}

/** A loop body may run any number of times: judged once, then again with what one pass may change. */
function loopBody(a: Analyzer, body: Node, scope: Scope, depth: number): void {
  const first = childScope(scope);
  a.walk(body, first, depth);
  mergeScopes(scope, first);
  if (!sameScope(first, scope)) {
    // Nested loops would double the work at every level: past a budget, ask instead.
    if (++a.secondPasses > MAX_SECOND_PASSES) {
      a.add('ask', 'ask.too-complex', body.text, false, 'too many loops whose state changes to judge');
      return;
    }
    const again = childScope(scope);
    a.walk(body, again, depth);
    mergeScopes(scope, again);
  }
}

/** `while true; do x & done`: an unbounded loop that keeps spawning background processes. */
function forkingLoop(a: Analyzer, node: Node): void {
  const condition = node.childForFieldName('condition');
  const body = node.childForFieldName('body');
  if (!condition || !body) return;
  const forever = /^(true|:|\[\s*1\s*\]|\(\(\s*1\s*\)\))\s*;?$/.test(condition.text.trim());
  if (forever && /(^|[^&])&(?![&>])/.test(body.text.replace(/&&|&>|>&|<&/g, '')))
    a.add('deny', 'deny.fork-bomb', node.text);
}
