import { readFileSync, readdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { GuardTarget } from '@handoff/contracts';
import type { Node, Parser } from 'web-tree-sitter';
import { DECODERS, FETCHERS, INTERPRETERS, SHELLS, findParts, genericOutputs, hasFlag, interpreterKey, splitArgs, subcommandOf, unwrap, writeTargets } from './commandFacts.ts';
import { NO_FILES, notIsolatedReason } from './allowlist.ts';
import { RUNS_LATER, gitKeyRunsProgram, repositoryConfig, settingVarKind, settingsFileRisk, splitGitSetting } from './programSettings.ts';
import { STRUCTURAL_RULES } from './defaultRules.ts';
import { parseWith } from './parser.ts';
import { MAX_SCRIPT_BYTES, gitHookPaths, makeCode, packageScriptTexts } from './projectCode.ts';
import { awkRuns, sedRunsOrWrites } from './programText.ts';
import { CREDENTIAL_MARKER, isInside, placesOf, protectedTarget, resolveFrom } from './paths.ts';
import type { PathContext, ProtectedMatcher } from './paths.ts';
import { ruleMatches } from './ruleMatch.ts';
import type { CompiledRule, SimpleCommand } from './ruleMatch.ts';
import { evalWord, literalWord, single, unknownWord } from './words.ts';
import type { Vars, Word, WordEnv } from './words.ts';

/**
 * The walk: every simple command in the parse (pipelines, lists, subshells, substitutions,
 * function bodies, here-docs run by shells, `bash -c` strings, wrapped commands) is judged, and
 * each judgement adds findings. The verdict is made from all findings (index.ts).
 */

export type Decision = 'allow' | 'ask' | 'deny';

export interface Finding {
  decision: Decision;
  rule: string;
  reason: string;
  /** An `allow` rule from guard.json may lift this ask (fail-closed asks are not liftable). */
  liftable: boolean;
}

export interface AnalyzeOptions {
  parser: Parser;
  rules: CompiledRule[];
  protectedPaths: ProtectedMatcher;
  sandboxRoot: string;
  /** The sandbox root with symlinks resolved. */
  realRoot: string;
  home: string;
  handoffHome: string;
  /**
   * An OS sandbox (bubblewrap, unshare, sandbox-exec) holds the command. When false only
   * commands the allowlist shows harmless are allowed (allowlist.ts); the rest is asked about.
   */
  isolated: boolean;
}

interface Scope {
  vars: Vars;
  cwd: string | null;
  functions: Set<string>;
  /** Variables holding downloaded text (`x=$(curl ..)`). */
  fetched: Set<string>;
}

/** Where a command's stdin comes from, when a shell might run it as code. */
type Stdin = { kind: 'text'; text: string } | { kind: 'word'; word: Word } | { kind: 'file'; word: Word } | null;
/** Stdin, worked out only when a shell or interpreter asks (it walks up the tree, which is slow). */
type StdinOf = () => Stdin;
const NO_STDIN: StdinOf = () => null;

const MAX_DEPTH = 8;
/** Loop bodies judged a second time (with what one pass changes) per check. */
const MAX_SECOND_PASSES = 16;
/** Builtins and wrappers whose operands become code. */
const CODE_RUNNERS = new Set(['eval', 'source', '.', 'exec', 'watch', 'trap', 'xargs', 'env', 'timeout', 'nohup', 'nice', 'setsid', 'flock']);
const RESERVED_WORDS = new Set(['!', 'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'for', 'while', 'until', 'case', 'esac', 'in', 'function', 'select', 'coproc', '{', '}', '[[', ']]']);
const RECURSIVE_READERS = new Set(['grep', 'egrep', 'rg', 'ag', 'tar', 'zip', 'cp', 'scp', 'rsync']);
/** Where stdin stops being inherited from an enclosing statement's redirects. */
const STDIN_BOUNDARIES = new Set(['program', 'command_substitution', 'process_substitution', 'pipeline', 'function_definition']);
const PACKAGE_MANAGERS = new Set(['npm', 'pnpm', 'yarn', 'bun']);
/** Tools whose subcommand runs the command after it in an environment (a virtualenv, a bundle). */
const RUNNERS: Record<string, string[]> = {
  poetry: ['run'], pipenv: ['run'], uv: ['run'], pdm: ['run'], hatch: ['run'], rye: ['run'], conda: ['run'], mamba: ['run'],
  bundle: ['exec'], mise: ['exec', 'x'], asdf: ['exec'], direnv: ['exec'], devbox: ['run'], pixi: ['run'],
};
/** Commands that delete their operands (writing a git hook path is asked about; deleting one is not). */
const DELETER_NAMES = new Set(['rm', 'rmdir', 'unlink', 'shred', 'rimraf', 'del', 'trash', 'srm', 'wipe']);
/** Indirect expansion `${!x}` (but not `${!x[@]}`/`${!prefix*}`, which list names or keys). */
const INDIRECT_EXPANSION = /^\$\{!(?![A-Za-z_][A-Za-z0-9_]*(\[[@*]\]|[@*])\}$)/;
/** A variable whose name says it holds a secret: printing it puts the secret in the transcript. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL)|(^|_)AUTH(_|$)/i;
const HISTORY_VARS = new Set(['HISTFILE', 'HISTSIZE', 'HISTFILESIZE', 'HISTCONTROL', 'HISTIGNORE', 'SAVEHIST']);

function oneLine(text: string, max = 160): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export class Analyzer {
  readonly findings: Finding[] = [];
  /** Allow rules from guard.json that matched a command (for the verdict's rule id). */
  readonly allowedBy: string[] = [];
  private readonly opts: AnalyzeOptions;
  private readonly realCache = new Map<string, string | null>();
  /**
   * Paths (with everything under them) that commands earlier in this command line write: a script,
   * package.json or makefile among them is run with text the guard cannot read now.
   */
  private readonly written: string[] = [];
  private secondPasses = 0;
  /** The command being judged reads names piped from a stage that names outside paths. */
  private pipedFromOutside = false;
  /** Every function defined anywhere in the command: what it calls, whether it spawns. */
  private readonly functionGraph = new Map<string, { calls: Set<string>; spawns: boolean; text: string }>();

  constructor(opts: AnalyzeOptions) {
    this.opts = opts;
  }

  analyze(source: string, cwd: string): void {
    this.analyzeSource(source, { vars: this.baseVars(), cwd, functions: new Set(), fetched: new Set() }, 0);
    this.forkBombs();
  }

  /** A function that reaches itself (directly or through others) and spawns with `|` or `&`: a fork bomb. */
  private forkBombs(): void {
    for (const [name, fn] of this.functionGraph) {
      if (!fn.spawns) continue;
      const seen = new Set<string>();
      const stack = [...fn.calls];
      while (stack.length > 0) {
        const next = stack.pop() as string;
        if (next === name) {
          this.add('deny', 'deny.fork-bomb', fn.text);
          return;
        }
        if (seen.has(next)) continue;
        seen.add(next);
        stack.push(...(this.functionGraph.get(next)?.calls ?? []));
      }
    }
  }

  /** Variables known before the command runs: $HANDOFF_HOME ($HOME and $PWD are looked up in words.ts). */
  private baseVars(): Vars {
    return new Map([['HANDOFF_HOME', [this.opts.handoffHome]]]);
  }

  private pathContext(scope: Scope): PathContext {
    return { cwd: scope.cwd, sandboxRoot: this.opts.sandboxRoot, realRoot: this.opts.realRoot, realCache: this.realCache, home: this.opts.home, handoffHome: this.opts.handoffHome };
  }

  private wordEnv(scope: Scope): WordEnv {
    const cwd = scope.cwd;
    return { vars: scope.vars, home: this.opts.home, cwd, gitTop: () => this.gitTopOf(cwd) };
  }

  private readonly gitTops = new Map<string, string | null>();

  /** The nearest directory at or above `cwd` holding `.git`, when it lies inside the sandbox. */
  private gitTopOf(cwd: string | null): string | null {
    if (cwd === null || !isInside(cwd, this.opts.sandboxRoot)) return null;
    const cached = this.gitTops.get(cwd);
    if (cached !== undefined) return cached;
    let top: string | null = null;
    for (let dir = cwd; isInside(dir, this.opts.sandboxRoot); dir = posix.dirname(dir)) {
      try {
        statSync(posix.join(dir, '.git'));
        top = dir;
        break;
      } catch {
        // not here
      }
      if (dir === this.opts.sandboxRoot) break;
    }
    this.gitTops.set(cwd, top);
    return top;
  }

  private add(decision: Decision, rule: string, subject: string, liftable = false, reason?: string): void {
    this.findings.push({ decision, rule, reason: `${reason ?? STRUCTURAL_RULES[rule] ?? rule}: \`${oneLine(subject)}\``, liftable });
  }

  private analyzeSource(source: string, scope: Scope, depth: number): void {
    if (depth > MAX_DEPTH) {
      this.add('ask', 'ask.too-complex', source);
      return;
    }
    // A backslash-newline joins lines before bash tokenizes; tree-sitter would split the word.
    const joined = source.replace(/\\\r?\n/g, '');
    const tree = parseWith(this.opts.parser, joined);
    try {
      const root = tree.rootNode;
      if (root.hasError) this.add('ask', 'ask.parse-error', joined);
      this.walk(root, scope, depth);
    } finally {
      tree.delete();
    }
  }

  private childScope(scope: Scope): Scope {
    return { vars: new Map(scope.vars), cwd: scope.cwd, functions: new Set(scope.functions), fetched: new Set(scope.fetched) };
  }

  private walk(node: Node, scope: Scope, depth: number): void {
    switch (node.type) {
      case 'command':
        this.command(node, scope, depth);
        return;
      case 'command_substitution':
        if (node.text.startsWith('`')) {
          // Inside backticks bash first removes the backslash before \\, \$ and \`: judge that text.
          const inner = node.text.slice(1, node.text.endsWith('`') ? -1 : undefined).replace(/\\([\\$`])/g, '$1');
          this.analyzeSource(inner, this.childScope(scope), depth + 1);
          return;
        }
        this.walkChildren(node, this.childScope(scope), depth);
        return;
      case 'process_substitution':
        // `tee >(sh)`: a shell in an output process substitution runs what the command writes.
        if (node.text.startsWith('>(') && this.stdinConsumer(node, scope)) this.add('ask', 'ask.shell-code-unknown', node.text);
        this.walkChildren(node, this.childScope(scope), depth);
        return;
      case 'subshell':
        this.walkChildren(node, this.childScope(scope), depth);
        return;
      case 'variable_assignment':
        this.assignment(node, scope, depth, true);
        return;
      case 'declaration_command':
        this.declaration(node, scope, depth);
        return;
      case 'expansion':
        // `${!x}`: the value of the variable whose name x holds, not known before it runs.
        if (INDIRECT_EXPANSION.test(node.text)) this.add('ask', 'ask.indirect-variable', node.text);
        {
          // `${EDITOR:=./x}` assigns when the variable is unset or empty.
          const assigned = /^\$\{([A-Za-z_][A-Za-z0-9_]*):?=/.exec(node.text)?.[1];
          if (assigned) {
            if (!scope.vars.get(assigned)) scope.vars.set(assigned, null);
            this.settingAssigned(assigned, unknownWord(node.text), node.text, scope, depth);
          }
        }
        this.walkChildren(node, scope, depth);
        return;
      case 'unset_command':
        for (const child of node.namedChildren) {
          if (child && HISTORY_VARS.has(child.text)) this.add('deny', 'deny.history-tampering', node.text);
          // An unset variable no longer holds what it did (`${x:-/etc}` then takes the default).
          if (child?.type === 'variable_name') scope.vars.delete(child.text);
          else if (child && child.type !== 'word') this.add('ask', 'ask.indirect-variable', node.text, false, 'unsets a variable whose name is computed at run time');
        }
        this.walkChildren(node, scope, depth);
        return;
      case 'function_definition':
        this.functionDefinition(node, scope, depth);
        return;
      case 'for_statement':
        this.forStatement(node, scope, depth);
        return;
      case 'while_statement': {
        this.loopCheck(node);
        const condition = node.childForFieldName('condition');
        if (condition) this.walk(condition, scope, depth);
        const body = node.childForFieldName('body');
        if (body) this.loopBody(body, scope, depth);
        return;
      }
      case 'c_style_for_statement': {
        for (const child of node.namedChildren) if (child && child !== node.childForFieldName('body')) this.walk(child, scope, depth);
        const body = node.childForFieldName('body');
        if (body) this.loopBody(body, scope, depth);
        return;
      }
      case 'list':
        this.andOr(node, scope, depth);
        return;
      case 'if_statement':
        this.ifStatement(node, scope, depth);
        return;
      case 'case_statement':
        for (const child of node.namedChildren) {
          if (!child) continue;
          if (child.type !== 'case_item') this.walk(child, scope, depth);
          else this.branch(child, scope, depth);
        }
        return;
      case 'pipeline':
        this.pipeline(node, scope, depth);
        return;
      case 'file_redirect':
        this.redirect(node, scope, depth);
        return;
      case 'heredoc_redirect':
        this.heredoc(node, scope, depth);
        return;
      default:
        this.walkChildren(node, scope, depth);
    }
  }

  private walkChildren(node: Node, scope: Scope, depth: number): void {
    const children = node.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (!child?.isNamed) continue;
      // `x=build & …`: a background job runs in a subshell; it changes nothing here.
      if (children[i + 1]?.text === '&' && !children[i + 1]?.isNamed) this.walk(child, this.childScope(scope), depth);
      else this.walk(child, scope, depth);
    }
  }

  // ---- control flow: what runs only sometimes changes the shell only maybe ----

  /**
   * `a && b`, `a || b`: `scope` becomes the state after the list whichever way it went (what
   * differs between the ways is unknown); the return value is the state when it succeeded, which
   * the right side of an enclosing `&&` sees. `mkdir b && cd b && rm -rf *` judges rm in b;
   * `x=/etc; true || x=build && rm -rf $x` does not take x for build.
   */
  private andOr(node: Node, scope: Scope, depth: number): Scope {
    if (node.type !== 'list') {
      this.walk(node, scope, depth);
      return this.childScope(scope);
    }
    const [left, right] = node.namedChildren.filter((c): c is Node => c !== null);
    const op = node.children.find((c) => c !== null && !c.isNamed && (c.text === '&&' || c.text === '||'))?.text ?? '&&';
    if (!left || !right) {
      this.walkChildren(node, scope, depth);
      return this.childScope(scope);
    }
    const okLeft = this.andOr(left, scope, depth);
    const start = op === '&&' ? okLeft : this.childScope(scope);
    const okRight = this.andOr(right, start, depth);
    const ok = op === '&&' ? okRight : mergeScopes(okLeft, okRight);
    mergeScopes(scope, start);
    return ok;
  }

  /** Code that may or may not run (a branch, a case item): walked on a copy, merged back as uncertain. */
  private branch(node: Node, scope: Scope, depth: number): void {
    const copy = this.childScope(scope);
    this.walk(node, copy, depth);
    mergeScopes(scope, copy);
  }

  private ifStatement(node: Node, scope: Scope, depth: number): void {
    const then: Node[] = [];
    const others: Node[] = [];
    for (let i = 0; i < node.childCount; i++) {
      const child = node.child(i);
      if (!child?.isNamed) continue;
      if (node.fieldNameForChild(i) === 'condition') this.walk(child, scope, depth);
      else if (child.type === 'elif_clause' || child.type === 'else_clause') others.push(child);
      else then.push(child);
    }
    // The then-branch's statements run in order on one copy; each elif/else on its own.
    const copy = this.childScope(scope);
    for (const statement of then) this.walk(statement, copy, depth);
    const states = [copy];
    for (const other of others) {
      const branch = this.childScope(scope);
      this.walk(other, branch, depth);
      states.push(branch);
    }
    for (const state of states) mergeScopes(scope, state);
  }

  /** A loop body may run any number of times: judged once, then again with what one pass may change. */
  private loopBody(body: Node, scope: Scope, depth: number): void {
    const first = this.childScope(scope);
    this.walk(body, first, depth);
    mergeScopes(scope, first);
    if (!sameScope(first, scope)) {
      // Nested loops would double the work at every level: past a budget, ask instead.
      if (++this.secondPasses > MAX_SECOND_PASSES) {
        this.add('ask', 'ask.too-complex', body.text, false, 'too many loops whose state changes to judge');
        return;
      }
      const again = this.childScope(scope);
      this.walk(body, again, depth);
      mergeScopes(scope, again);
    }
  }

  // ---- assignments, functions, loops ----

  private assignment(node: Node, scope: Scope, depth: number, persist: boolean): void {
    const nameNode = node.childForFieldName('name');
    const name = nameNode?.text ?? '';
    const value = node.childForFieldName('value');
    if (value) this.walk(value, scope, depth);
    let word = value ? this.valueWord(value, scope) : literalWord('');
    // `p=/et; p+=c`: appending to what the variable held.
    if (node.children.some((c) => c !== null && !c.isNamed && c.text === '+=')) {
      const before = scope.vars.get(name);
      word = before && word.values && !word.glob ? { ...word, values: before.flatMap((b) => (word.values ?? []).map((v) => b + v)).slice(0, 64) } : { ...word, values: null, prefix: '' };
    }
    if (nameNode && nameNode.type !== 'variable_name') {
      // `a[$i]=x`, `a[1]=x`: an element of an array; the array's values are no longer known.
      const base = /^[A-Za-z_][A-Za-z0-9_]*/.exec(name)?.[0] ?? '';
      if (persist) scope.vars.set(base, null);
      this.settingAssigned(base, unknownWord(node.text), node.text, scope, depth);
      return;
    }
    if (HISTORY_VARS.has(name)) {
      const v = single(word);
      if (v === null || v === '/dev/null' || v === '0' || name === 'HISTIGNORE' || (name === 'HISTCONTROL' && /ignore/.test(v))) {
        this.add('deny', 'deny.history-tampering', node.text);
      }
    }
    this.settingAssigned(name, word, node.text, scope, depth);
    if (this.fetches(word, scope)) scope.fetched.add(name);
    if (persist) scope.vars.set(name, word.glob ? null : word.values);
  }

  /** An assignment's value; an array `(a b c)` holds each of its elements' values. */
  private valueWord(value: Node, scope: Scope): Word {
    if (value.type !== 'array') return evalWord(value, this.wordEnv(scope));
    const values: string[] = [];
    for (const element of value.namedChildren) {
      if (!element) continue;
      const word = evalWord(element, this.wordEnv(scope));
      // `([k]=v)`: an associative or indexed element; which one is read later is not followed.
      if (word.values === null || word.glob || element.text.startsWith('[')) return { ...word, values: null, prefix: '', text: value.text, node: value };
      values.push(...word.values);
    }
    return { values: values.slice(0, 64), glob: false, prefix: '', substitution: false, text: value.text, node: value };
  }

  /**
   * A variable that names a program (`EDITOR`, `GIT_PAGER`, `npm_config_script_shell`) runs its
   * value: a known value is judged as the shell code it is, an unknown one is asked about. One that
   * makes programs load code or other configuration (`LD_PRELOAD`, `GIT_CONFIG_*`, `MAKEFLAGS`)
   * is asked about, and so is `PATH`: later names could run files the agent wrote, which the guard
   * would judge as the program they are named after.
   */
  private settingAssigned(name: string, word: Word, subject: string, scope: Scope, depth: number): void {
    const kind = settingVarKind(name);
    if (kind === 'injection') this.add('ask', 'ask.code-injection-env', subject);
    else if (kind === 'program') {
      const value = single(word);
      if (value === null) this.add('ask', 'ask.code-injection-env', subject, false, 'sets a variable naming a program to a value not known before it runs');
      // A pager reads the program's output on stdin: judged as `… | PAGER` (a shell there runs it).
      else if (value.trim() !== '') this.analyzeSource(/PAGER$/i.test(name) ? `: | ${value}` : value, this.childScope(scope), depth + 1);
    } else if (name === 'PATH') {
      this.add('ask', 'ask.code-injection-env', subject, false, 'changes PATH, so later names may run files the guard has not read');
    }
  }

  /** `declare`/`typeset`/`local`/`export`/`readonly`: assignments, namerefs and computed names. */
  private declaration(node: Node, scope: Scope, depth: number): void {
    const keyword = node.child(0)?.text ?? '';
    const named = node.namedChildren.filter((c): c is Node => c !== null);
    // `declare -n r=x`: r stands for the variable x names. Which one is not followed: ask.
    const nameref = keyword !== 'export' && named.some((c) => c.type === 'word' && /^-[A-Za-z]*n/.test(c.text));
    if (nameref) this.add('ask', 'ask.indirect-variable', node.text);
    for (const child of named) {
      if (child.type === 'variable_assignment') {
        this.assignment(child, scope, depth, true);
        if (nameref) scope.vars.set(child.childForFieldName('name')?.text ?? '', null);
        continue;
      }
      if (child.type === 'word' && child.text.startsWith('-')) continue;
      if (child.type === 'word' || child.type === 'variable_name') {
        if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(child.text)) {
          if (nameref) scope.vars.set(child.text, null);
          continue;
        }
      }
      // `export "$n=x"`, `declare $n=x`: the name assigned is computed at run time.
      this.add('ask', 'ask.indirect-variable', node.text, false, 'assigns a variable whose name is computed at run time');
      this.walk(child, scope, depth);
    }
  }

  private functionDefinition(node: Node, scope: Scope, depth: number): void {
    const name = node.childForFieldName('name')?.text ?? '';
    const body = node.childForFieldName('body');
    scope.functions.add(name);
    if (!body) return;
    const calls = new Set(body.descendantsOfType('command_name').map((n) => n?.text.replace(/\\|['"]/g, '') ?? ''));
    const spawns = body.descendantsOfType(['pipeline', '&']).length > 0 || /(^|[^&])&(?!&)/.test(body.text.replace(/&&|&>|>&|<&/g, ''));
    this.functionGraph.set(name, { calls, spawns, text: node.text });
    // The body is judged where it is defined; positional parameters are unknown there.
    const inner = this.childScope(scope);
    inner.functions.add(name);
    this.walk(body, inner, depth);
  }

  private loopCheck(node: Node): void {
    // `while true; do x & done`: an unbounded loop that keeps spawning background processes.
    const condition = node.childForFieldName('condition');
    const body = node.childForFieldName('body');
    if (!condition || !body) return;
    const forever = /^(true|:|\[\s*1\s*\]|\(\(\s*1\s*\)\))\s*;?$/.test(condition.text.trim());
    if (forever && /(^|[^&])&(?![&>])/.test(body.text.replace(/&&|&>|>&|<&/g, ''))) this.add('deny', 'deny.fork-bomb', node.text);
  }

  private forStatement(node: Node, scope: Scope, depth: number): void {
    const variable = node.childForFieldName('variable')?.text;
    const values = node.childrenForFieldName('value').filter((n): n is Node => n !== null);
    let all: string[] | null = [];
    for (const v of values) {
      this.walk(v, scope, depth);
      const word = evalWord(v, this.wordEnv(scope));
      if (word.values === null || all === null) all = null;
      else if (word.glob) {
        // A glob's matches stay in its directory: stand for them by a path there.
        all.push(...word.values.map((g) => g.replace(/[*?[].*$/, 'match')));
      } else all.push(...word.values);
    }
    if (variable) scope.vars.set(variable, values.length === 0 ? null : all);
    const body = node.childForFieldName('body');
    if (body) this.loopBody(body, scope, depth);
  }

  // ---- redirects ----

  private redirect(node: Node, scope: Scope, depth: number): void {
    const destination = node.childForFieldName('destination');
    this.walkChildren(node, scope, depth);
    if (!destination) return;
    const op = node.children.find((c) => c && !c.isNamed)?.text ?? '>';
    const word = evalWord(destination, this.wordEnv(scope));
    const value = single(word);
    if ((op === '>&' || op === '<&' || op === '>&-' || op === '<&-') && value !== null && /^(\d+|-)$/.test(value)) return;
    const ctx = this.pathContext(scope);
    for (const v of word.values ?? [word.prefix]) {
      if (/^\/dev\/(tcp|udp)\//.test(v)) {
        this.add('deny', 'deny.network-redirect', node.text);
        return;
      }
    }
    const secret = protectedTarget(word, ctx, this.opts.protectedPaths);
    if (secret) {
      this.add('deny', 'deny.credentials', node.text, false, `touches protected path ${secret}`);
      return;
    }
    if (op === '<' || op === '<&') {
      if (!this.opts.isolated && !placesOf(word, ctx).every((p) => p === 'inside' || p === 'sandboxRoot')) {
        this.add('ask', 'ask.not-isolated', node.text, false, 'reads a file outside the sandbox, and no OS sandbox holds the command');
      }
      return;
    }
    this.noteWritten([word], scope.cwd);
    if ((word.values ?? [word.prefix]).some((v) => RUNS_LATER.test(v.replace(/\/+$/, '')))) this.add('ask', 'ask.git-hooks', node.text);
    const places = placesOf(word, ctx);
    if (places.includes('device')) this.add('deny', 'deny.redirect-device', node.text);
    else if (places.includes('outside')) this.add('deny', 'deny.redirect-outside-sandbox', node.text);
    else if (places.includes('unresolved')) this.add('ask', 'ask.redirect-unresolved', node.text);
  }

  // ---- pipelines: code piped into a shell ----

  private pipeline(node: Node, scope: Scope, depth: number, producerBefore?: Node): void {
    const stages = node.namedChildren.filter((c): c is Node => c !== null);
    const all = producerBefore ? [producerBefore, ...stages] : stages;
    for (let i = 1; i < all.length; i++) {
      const stage = all[i] as Node;
      const consumer = this.stdinConsumer(stage, scope);
      if (!consumer) continue;
      this.pipedCode(all.slice(0, i), consumer, stage, scope, depth);
    }
    // `find .. -name x | xargs cat`: names read from outside the sandbox are computed paths.
    let fedFromOutside = false;
    for (const stage of stages) {
      const before = this.pipedFromOutside;
      this.pipedFromOutside = fedFromOutside;
      // Each stage of a pipeline runs in a subshell: `x=build | true` changes nothing here.
      this.walk(stage, stages.length > 1 ? this.childScope(scope) : scope, depth);
      this.pipedFromOutside = before;
      fedFromOutside ||= this.namesOutside(stage, scope);
    }
  }

  /** Does a pipeline stage name paths outside the sandbox (or unknown ones) in its arguments? */
  private namesOutside(stage: Node, scope: Scope): boolean {
    const commands = stage.type === 'command' ? [stage] : stage.descendantsOfType('command').filter((c): c is Node => c !== null);
    const ctx = this.pathContext(scope);
    return commands.some((command) =>
      this.commandWords(command, scope).slice(1).some((w) => {
        const text = single(w);
        if (text !== null && text.startsWith('-')) return false;
        return placesOf(w, ctx).some((p) => p === 'outside' || p === 'unresolved');
      }),
    );
  }

  /** Does this pipeline stage run its stdin as code? 'shell' or 'interpreter', else null. */
  private stdinConsumer(stage: Node, scope: Scope): 'shell' | 'interpreter' | null {
    const commands = stage.type === 'command' ? [stage] : stage.descendantsOfType('command').filter((c): c is Node => c !== null);
    for (const command of commands) {
      let words = this.commandWords(command, scope);
      for (let hops = 0; hops < 4 && words.length > 0; hops++) {
        const name = commandBase(single(words[0]));
        if (name === null) return 'shell'; // unknown program reading the pipe: assume the worst
        const inner = unwrap(name, words.slice(1));
        if (inner?.words && !inner.asScript) {
          words = inner.words;
          continue;
        }
        const args = words.slice(1);
        if (SHELLS.has(name)) {
          const { operands } = splitArgs(name, args);
          const hasC = args.some((a) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(single(a) ?? ''));
          const hasS = args.some((a) => /^-[a-zA-Z]*s[a-zA-Z]*$/.test(single(a) ?? ''));
          if (!hasC && (hasS || operands.length === 0 || ['-', '/dev/stdin'].includes(single(operands[0]) ?? ''))) return 'shell';
        }
        if ((name === 'source' || name === '.') && ['/dev/stdin', '-', '/proc/self/fd/0', '/dev/fd/0'].includes(single(args[0]) ?? '')) return 'shell';
        if (name === 'eval' || name === 'at' || name === 'batch') return 'shell';
        const key = interpreterKey(name);
        if (key) {
          const inline = INTERPRETERS[key] ?? [];
          const { operands } = splitArgs(key, args);
          if (!args.some((a) => inline.includes(single(a) ?? '')) && (operands.length === 0 || single(operands[0]) === '-')) return 'interpreter';
        }
        break;
      }
    }
    return null;
  }

  private pipedCode(producers: Node[], consumer: 'shell' | 'interpreter', stage: Node, scope: Scope, depth: number): void {
    const names = new Set<string>();
    let networkRedirect = false;
    for (const producer of producers) {
      const commands = producer.type === 'command' ? [producer] : [];
      commands.push(...producer.descendantsOfType('command').filter((c): c is Node => c !== null));
      for (const command of commands) {
        let words = this.commandWords(command, scope);
        for (let hops = 0; hops < 4 && words.length > 0; hops++) {
          const name = commandBase(single(words[0]));
          if (name === null) break;
          names.add(name);
          const inner = unwrap(name, words.slice(1));
          if (!inner?.words || inner.asScript) break;
          words = inner.words;
        }
      }
      if (/\/dev\/(tcp|udp)\//.test(producer.text)) networkRedirect = true;
    }
    const subject = `${producers.map((p) => p.text).join(' | ')} | ${stage.text}`;
    if (networkRedirect || [...names].some((n) => FETCHERS.has(n))) {
      this.add('deny', 'deny.download-exec', subject);
      return;
    }
    if (consumer === 'interpreter') {
      this.add('ask', 'ask.inline-code', subject, true);
      return;
    }
    const text = producers.length === 1 ? this.producedText(producers[0] as Node, scope) : null;
    if (text !== null) {
      this.analyzeSource(text, this.childScope(scope), depth + 1);
      return;
    }
    if ([...names].some((n) => DECODERS.has(n))) this.add('ask', 'ask.decode-exec', subject);
    else this.add('ask', 'ask.shell-code-unknown', subject);
  }

  /** The exact text a producer writes, when it is a literal echo/printf or `cat <<EOF`. */
  private producedText(producer: Node, scope: Scope): string | null {
    if (producer.type === 'redirected_statement') {
      const body = producer.childForFieldName('body');
      const heredoc = producer.namedChildren.find((c) => c?.type === 'heredoc_redirect');
      if (body?.type === 'command' && heredoc && this.commandWords(body, scope).length === 1 && single(this.commandWords(body, scope)[0]) === 'cat') {
        return heredocText(heredoc);
      }
      return null;
    }
    if (producer.type !== 'command') return null;
    const words = this.commandWords(producer, scope);
    const name = single(words[0]);
    const args = words.slice(1);
    if (args.some((a) => single(a) === null)) return null;
    const values = args.map((a) => single(a) ?? '');
    if (name === 'echo') {
      const flags = values.filter((v, i) => i < values.length && /^-[neE]+$/.test(v));
      const rest = values.slice(flags.length);
      if (flags.some((f) => f.includes('e')) && rest.some((v) => v.includes('\\'))) return null;
      return rest.join(' ');
    }
    if (name === 'printf' && values.length === 1 && !/[\\%]/.test(values[0] ?? '')) return values[0] ?? '';
    return null;
  }

  // ---- simple commands ----

  /** The words of a command node: name then arguments (assignments and redirects left out). */
  private commandWords(node: Node, scope: Scope): Word[] {
    const words: Word[] = [];
    const env = this.wordEnv(scope);
    for (let i = 0; i < node.childCount; i++) {
      const field = node.fieldNameForChild(i);
      const child = node.child(i);
      if (!child) continue;
      if (field === 'name' || field === 'argument') words.push(...splitUnquoted(evalWord(child, env), scope.vars.has('IFS')));
    }
    return words;
  }

  private stdinOf(node: Node, scope: Scope): Stdin {
    const redirects: Node[] = [];
    for (let i = 0; i < node.childCount; i++) if (node.fieldNameForChild(i) === 'redirect' && node.child(i)) redirects.push(node.child(i) as Node);
    // The nearest enclosing statement's redirects feed this command too: `{ a; bash; } <<EOF`, and
    // tree-sitter hangs `true && bash <<EOF` on the whole list. Over-approximating is the safe side.
    let child: Node = node;
    for (let up = node.parent; up && !STDIN_BOUNDARIES.has(up.type); child = up, up = up.parent) {
      if (up.type !== 'redirected_statement' || up.childForFieldName('body')?.id !== child.id) continue;
      for (let i = 0; i < up.childCount; i++) if (up.fieldNameForChild(i) === 'redirect' && up.child(i)) redirects.push(up.child(i) as Node);
      if (redirects.length > 0) break;
    }
    for (const r of redirects) {
      if (r.type === 'heredoc_redirect') return { kind: 'text', text: heredocText(r) };
      if (r.type === 'herestring_redirect') {
        const arg = r.namedChildren.find((c) => c !== null);
        return arg ? { kind: 'word', word: evalWord(arg, this.wordEnv(scope)) } : null;
      }
      if (r.type === 'file_redirect' && r.children.some((c) => c?.text === '<&' || c?.text === '<>')) {
        const dest = single(evalWord(r.childForFieldName('destination') ?? r, this.wordEnv(scope)));
        if (dest !== '-' && dest !== '0') return { kind: 'file', word: unknownWord(r.text) };
      }
      if (r.type === 'file_redirect' && r.children.some((c) => c?.text === '<')) {
        const dest = r.childForFieldName('destination');
        if (dest) return { kind: 'file', word: evalWord(dest, this.wordEnv(scope)) };
      }
    }
    return null;
  }

  private command(node: Node, scope: Scope, depth: number): void {
    for (let i = 0; i < node.childCount; i++) {
      const child = node.child(i);
      if (!child) continue;
      const field = node.fieldNameForChild(i);
      if (child.type === 'variable_assignment') this.assignment(child, scope, depth, false);
      else if (field === 'redirect' && child.type === 'heredoc_redirect') this.heredoc(child, scope, depth);
      else this.walk(child, scope, depth);
    }
    const words = this.commandWords(node, scope);
    if (words.length === 0) return;
    let stdin: Stdin | undefined;
    this.simple(words, scope, depth, node.text, () => (stdin ??= this.stdinOf(node, scope)));
  }

  private heredoc(node: Node, scope: Scope, depth: number): void {
    for (const child of node.namedChildren) {
      if (!child) continue;
      // `cat <<EOF | sh`: tree-sitter hangs the pipeline under the here-doc; its producer is the statement.
      if (child.type === 'pipeline' && node.parent) this.pipeline(child, scope, depth, node.parent.type === 'redirected_statement' ? node.parent : undefined);
      else this.walk(child, scope, depth);
    }
  }

  /** Judge one simple command given as words (name first). */
  private simple(words: Word[], scope: Scope, depth: number, subject: string, stdin: StdinOf): void {
    // Findings from here on belong to this simple command (an allow rule may lift its liftable asks).
    const mark = this.findings.length;
    const nameWord = words[0] as Word;
    const args = words.slice(1);
    const ctx = this.pathContext(scope);
    for (const word of words) {
      const secret = protectedTarget(word, ctx, this.opts.protectedPaths);
      if (secret) {
        this.add('deny', 'deny.credentials', subject, false, `touches protected path ${secret}`);
        break;
      }
    }
    // `tar -C .. -cf x.tar handoff-home`: operands after `-C DIR` are read from DIR.
    if (/^(g|bsd)?tar$/.test(commandBase(single(nameWord)) ?? '')) {
      for (const word of tarRelocated(args, scope.cwd)) {
        const secret = protectedTarget(word, ctx, this.opts.protectedPaths);
        if (secret) {
          this.add('deny', 'deny.credentials', subject, false, `touches protected path ${secret}`);
          break;
        }
      }
    }
    const secretVar = words.flatMap((w) => (w.node ? [w.node, ...w.node.descendantsOfType(['simple_expansion', 'expansion']).filter((n): n is Node => n !== null)] : []))
      .filter((n) => n.type === 'simple_expansion' || n.type === 'expansion')
      .map((n) => n.descendantsOfType('variable_name')[0]?.text ?? '')
      .find((v) => SECRET_NAME.test(v));
    if (secretVar) this.add('ask', 'ask.secret-variable', subject, true);
    if (!this.findings.some((f) => f.rule === 'deny.credentials') && words.some((w) => CREDENTIAL_MARKER.test(w.values === null ? w.text : w.values.join(' ')))) {
      this.add('ask', 'ask.credential-mention', subject, true);
    }
    const written = single(nameWord);
    if (written === null) {
      this.add('ask', 'ask.dynamic-command', subject);
      return;
    }
    if (RESERVED_WORDS.has(written)) {
      // tree-sitter misreads some valid forms (`! if …`, `! ! cmd`) as a command named by a
      // reserved word: judge the words after it as the command they are.
      if (written !== '!' && written !== 'coproc') this.add('ask', 'ask.parse-error', subject);
      if (args.length > 0) this.simple(args, scope, depth, subject, stdin);
      return;
    }
    let name = written;
    if (written.includes('/')) {
      const resolved = resolveFrom(scope.cwd, written);
      if (resolved !== null && isInside(resolved, this.opts.sandboxRoot)) {
        this.script(literalWord(resolved), scope, depth, subject, true);
        return;
      }
      if (resolved === null) {
        this.add('ask', 'ask.dynamic-command', subject);
        return;
      }
      name = posix.basename(resolved);
    }
    // Judged case-insensitively: on macOS's file system `RM` runs /bin/rm.
    name = name.toLowerCase();
    if (scope.functions.has(name) && !written.includes('/')) {
      // Its body was judged where it was defined; what it changes in the caller's shell (cd,
      // variables) is not followed, so those become unknown.
      const body = this.functionGraph.get(name)?.text;
      if (body !== undefined) this.forgetChangesOf(body, scope);
      return;
    }

    if (CODE_RUNNERS.has(name) || SHELLS.has(name) || interpreterKey(name) !== null) {
      // `bash -c "$(curl ..)"`, `source <(curl ..)`, `python3 -c "$(wget ..)"`
      if (args.some((a) => this.fetches(a, scope))) this.add('deny', 'deny.download-exec', subject);
    }
    const unwrapped = unwrap(name, args);
    if (!unwrapped && !NO_FILES.has(name) && !CODE_RUNNERS.has(name) && !SHELLS.has(name)) this.unresolvedArguments(name, args, scope, subject);
    // This command's own checks and rules come first: an allow rule on it lifts their liftable
    // asks, never those of the code it goes on to run (judged below).
    this.ownChecks(name, args, scope, subject, stdin);
    const parts = name === 'find' ? findParts(args) : null;
    let targets: Word[] = name === 'busybox' ? [] : unwrapped ? wrapperOutputs(name, args, unwrapped.words) : writeTargets(name, args);
    if (parts) {
      // Listing names is harmless; running a command on every file under ~ or / reads them.
      if (parts.execs.length > 0) this.recursiveRead(name, parts.roots, scope, subject);
      // -delete removes what it finds under each root: a path below the root stands for them.
      targets = parts.deletes ? parts.roots.map((r) => (single(r) === null ? r : literalWord(`${(single(r) ?? '').replace(/\/$/, '')}/found`))) : [];
      targets.push(...parts.outputs);
    }
    this.applyRules(this.simpleCommand(name, args, scope, targets), subject, mark);
    if (!DELETER_NAMES.has(name)) this.noteWritten(targets, scope.cwd);
    this.noteTreeChanges(name, args, scope);
    if (!this.opts.isolated) {
      const kind = unwrapped ? 'wrapper' : SHELLS.has(name) && name !== 'busybox' ? 'shell' : 'plain';
      const why = notIsolatedReason(name, args, this.pathContext(scope), kind);
      if (why) this.add('ask', 'ask.not-isolated', subject, true, `no OS sandbox holds the command, and ${why}`);
    }

    if (this.builtin(name, args, scope, depth, subject)) return;
    if (name === 'npx') this.packageManagerSettings(args, scope, depth, subject);
    if (unwrapped) {
      for (const [variable, value] of unwrapped.assignments ?? []) {
        this.settingAssigned(variable, value, subject, scope, depth);
        if (HISTORY_VARS.has(variable) && (single(value) === null || ['/dev/null', '0'].includes(single(value) ?? ''))) this.add('deny', 'deny.history-tampering', subject);
      }
      if (!unwrapped.words || unwrapped.words.length === 0) return;
      // `env -C DIR cmd`: the wrapped command runs in DIR.
      const inner = name === 'env' ? this.envChdir(args, scope) : scope;
      if (unwrapped.asScript) this.codeString(unwrapped.words, inner, depth, subject);
      else this.simple(unwrapped.words, inner, depth, subject, stdin);
      return;
    }
    if (name === 'busybox' && args.length > 0) this.simple(args, scope, depth, subject, stdin);
    // `poetry run X`, `uv run X`, `bundle exec X`, `direnv exec DIR X`: X is judged like any command.
    const runner = RUNNERS[name];
    if (runner) {
      const { operands } = splitArgs(name, args);
      const sub = single(operands[0]);
      if (sub !== null && runner.includes(sub)) {
        let rest = args.slice(args.indexOf(operands[0] as Word) + 1);
        if (name === 'direnv') rest = rest.slice(1);
        while (rest.length > 0 && (single(rest[0]) ?? '').startsWith('-')) {
          const flag = single(rest[0]);
          rest = rest.slice(1);
          if (flag === '--') break;
        }
        if (rest.length > 0) this.simple(rest, scope, depth, subject, stdin);
        else this.add('ask', 'ask.shell-code-unknown', subject);
      }
    }
    for (const exec of parts?.execs ?? []) this.simple(exec, scope, depth, subject, NO_STDIN);
    if (SHELLS.has(name)) this.shell(name, args, scope, depth, subject, stdin);
    if (PACKAGE_MANAGERS.has(name)) {
      // `npm exec -- rimraf /`, `pnpm dlx x`, `yarn exec x`: judge the command they run.
      const { operands } = splitArgs(name, args);
      const sub = single(operands[0]);
      if (sub !== null && ['exec', 'dlx', 'x'].includes(sub)) {
        const rest = args.slice(args.indexOf(operands[0] as Word) + 1);
        // `npm exec -c 'code'`, `--call='code'`: shell code.
        const call = rest.findIndex((w) => /^(-c|--call)(=|$)/.test(single(w) ?? (w.prefix || '-')));
        if (call >= 0) {
          const flag = rest[call] as Word;
          const text = single(flag);
          const code = text !== null && text.includes('=') ? literalWord(text.slice(text.indexOf('=') + 1)) : rest[call + 1];
          if (code) this.codeString([code], scope, depth, subject);
          else this.add('ask', 'ask.shell-code-unknown', subject);
        }
        const dashes = rest.findIndex((w) => single(w) === '--');
        const inner = dashes >= 0 ? rest.slice(dashes + 1) : rest.filter((w, i) => i > 0 || !(single(w) ?? '').startsWith('-'));
        if (inner.length > 0) this.simple(inner, scope, depth, subject, stdin);
      }
    }
    this.projectCode(name, args, scope, depth, subject);
  }

  /**
   * An argument whose value is computed at run time (`cat "$(printf …)"`, `cp "$f" .`, `cat $x`
   * after `read x`) could name any file, a credential included; so could any path when the
   * working directory is unknown. Asked about (process substitutions `<(…)` are pipes, not paths).
   */
  private unresolvedArguments(name: string, args: Word[], scope: Scope, subject: string): void {
    const computed = args.find((a) => a.values === null && !/^[<>]\(/.test(a.text) && (!a.assumeOutside || this.pipedFromOutside) && !this.textNotPath(a, scope) && !this.listsInside(a, scope));
    if (computed) {
      this.add('ask', 'ask.unresolved-path', subject, true, `an argument is computed at run time (\`${oneLine(computed.text, 60)}\`), so the file it names is not known`);
      return;
    }
    if (scope.cwd === null && name !== 'cd' && name !== 'pushd' && name !== 'popd') this.add('ask', 'ask.unresolved-path', subject, true, 'runs in a directory not known before it runs');
  }

  /**
   * Code run in this shell but judged apart (a function body, a sourced file, a trap) may `cd` or
   * assign: afterwards the working directory and the variables it names are unknown.
   */
  private forgetChangesOf(code: string, scope: Scope): void {
    if (/(^|[\s;&|(){}`])(cd|pushd|popd)(\s|;|$|\))/.test(code)) scope.cwd = null;
    for (const name of scope.vars.keys()) {
      if (name === 'HANDOFF_HOME') continue;
      const escaped = name.replace(/[^A-Za-z0-9_]/g, '\\$&');
      if (new RegExp(`(^|[^A-Za-z0-9_$])${escaped}([^A-Za-z0-9_]|$)`).test(code)) scope.vars.set(name, null);
    }
  }

  private noteWritten(words: Word[], cwd: string | null): void {
    for (const word of words) {
      if (word.values === null || word.glob || cwd === null) {
        const prefix = word.values === null ? word.prefix : '';
        this.written.push(prefix.startsWith('/') ? posix.dirname(`${prefix}x`) : (cwd ?? '/'));
        continue;
      }
      for (const v of word.values) {
        const path = resolveFrom(cwd, v);
        if (path !== null) this.written.push(path);
      }
    }
  }

  private envChdir(args: Word[], scope: Scope): Scope {
    for (let i = 0; i < args.length; i++) {
      const text = single(args[i]);
      if (text === null) return scope;
      let dir: Word | undefined;
      if (text === '-C' || text === '--chdir') dir = args[i + 1];
      else if (text.startsWith('--chdir=')) dir = literalWord(text.slice('--chdir='.length));
      else if (/^-C./.test(text)) dir = literalWord(text.slice(2));
      else continue;
      const value = dir ? single(dir) : null;
      return { ...this.childScope(scope), cwd: value === null ? null : resolveFrom(scope.cwd, value) };
    }
    return scope;
  }

  /** Commands that rewrite the working tree (or package.json) without naming files. */
  private noteTreeChanges(name: string, args: Word[], scope: Scope): void {
    if (scope.cwd === null) return;
    const sub = subcommandOf(name, args);
    if (name === 'git' && sub !== null && ['checkout', 'restore', 'switch', 'apply', 'am', 'pull', 'merge', 'reset', 'stash', 'cherry-pick', 'rebase', 'revert', 'submodule', 'read-tree', 'checkout-index'].includes(sub)) {
      this.written.push(scope.cwd);
    }
    if (name === 'patch') this.written.push(scope.cwd);
    if (PACKAGE_MANAGERS.has(name) && (sub === 'pkg' || sub === 'set-script')) this.written.push(posix.join(scope.cwd, 'package.json'));
  }

  private writtenEarlier(path: string): boolean {
    return this.written.some((w) => isInside(path, w));
  }

  /**
   * `-m "Release $(date)"`, `--title=$(…)`: a computed word behind a literal prefix names a file only
   * through a directory whose name starts with that prefix. With no such entry in the working
   * directory (and none written earlier in this command) it is text, not a path.
   */
  private textNotPath(word: Word, scope: Scope): boolean {
    const prefix = word.prefix;
    if (prefix === '' || scope.cwd === null || /[/~]/.test(prefix) || prefix.startsWith('.') || !isInside(scope.cwd, this.opts.sandboxRoot)) return false;
    const cwd = scope.cwd;
    const clashes = (entry: string): boolean => entry.startsWith(prefix) || prefix.startsWith(entry);
    if (this.writtenEarlier(cwd) || this.written.some((w) => isInside(w, cwd) && clashes(posix.relative(cwd, w).split('/')[0] ?? ''))) return false;
    try {
      return !readdirSync(cwd).some(clashes);
    } catch {
      return false;
    }
  }

  /**
   * `node --test $(find . -name '*.test.js')`, `wc -l $(git ls-files)`: a substitution that only
   * lists paths under roots inside the sandbox yields paths inside it.
   */
  private listsInside(word: Word, scope: Scope): boolean {
    const node = word.node;
    if (!node || !/^"?\$\([\s\S]*\)"?$/.test(word.text)) return false;
    const substitution = node.type === 'command_substitution' ? node : node.namedChildren.find((c) => c?.type === 'command_substitution');
    if (!substitution || substitution.namedChildCount !== 1) return false;
    const body = substitution.namedChildren[0] as Node;
    const stages = body.type === 'pipeline' ? body.namedChildren.filter((c): c is Node => c !== null) : [body];
    const ctx = this.pathContext(scope);
    return stages.every((stage, i) => {
      if (stage.type !== 'command') return false;
      const words = this.commandWords(stage, scope);
      const name = single(words[0]);
      const args = words.slice(1);
      const texts = args.map((a) => single(a));
      if (texts.some((t) => t === null)) return false;
      const paths = (skip: number): boolean => args.filter((a) => !(single(a) ?? '-').startsWith('-')).slice(skip).every((a) => placesOf(a, ctx).every((p) => p === 'inside' || p === 'sandboxRoot'));
      // Later stages may only filter the names (`| sort`, `| grep test`, `| head`).
      if (i > 0) return ['sort', 'uniq', 'head', 'tail', 'grep', 'egrep'].includes(name ?? '') && !texts.some((t) => /^-(f|-file)/.test(t ?? ''));
      if (name === 'find') return findParts(args).roots.every((r) => placesOf(r, ctx).every((p) => p === 'inside' || p === 'sandboxRoot')) && !texts.some((t) => /^-(exec|execdir|ok|okdir|delete|fprint|fprint0|fprintf|fls|L|follow)$/.test(t ?? ''));
      if (name === 'ls') return paths(0);
      if (name === 'git') return ['ls-files', 'diff'].includes(subcommandOf('git', args) ?? '') && (subcommandOf('git', args) === 'ls-files' || texts.includes('--name-only')) && !texts.some((t) => /^(-C|--git-dir|--work-tree)/.test(t ?? ''));
      if (name === 'rg') return (texts.includes('--files') || texts.includes('-l')) && paths(texts.includes('--files') ? 0 : 1);
      if (name === 'grep' || name === 'egrep') return texts.some((t) => /^-[a-zA-Z]*l/.test(t ?? '')) && paths(1);
      return false;
    });
  }

  /** Checks on one command's own words that no rule expresses. */
  private ownChecks(name: string, args: Word[], scope: Scope, subject: string, stdin: StdinOf): void {
    if ((name === 'sed' || name === 'gsed') && sedRunsOrWrites(args)) this.add('ask', 'ask.sed-exec', subject, true);
    if (/^[gmn]?awk$/.test(name) && awkRuns(args)) this.add('ask', 'ask.inline-code', subject, true);
    if (RECURSIVE_READERS.has(name)) this.recursiveRead(name, args, scope, subject);
    if (!DELETER_NAMES.has(name) && writeTargets(name, args).some((t) => (t.values ?? [t.prefix]).some((v) => RUNS_LATER.test(v.replace(/\/+$/, ''))))) this.add('ask', 'ask.git-hooks', subject);
    if (name === 'git') this.gitSettings(args, scope, subject);
    if ((name === 'ed' || name === 'red' || name === 'ex') && stdin() !== null) this.add('ask', 'ask.inline-code', subject, true);
    if (name === 'sqlite3' && args.some((a) => /(^|[;\n])\s*\.(shell|system|sh|once|output|log|load|read|import|excel|save|backup|restore|open)\b|load_extension|\battach\b/i.test(a.values === null ? a.text : (single(a) ?? '')))) this.add('ask', 'ask.inline-code', subject, true);
    if (name === 'kill' && args.some((a) => a.substitution)) this.add('ask', 'ask.kill-unknown', subject, true);
    if (name === 'printenv' && args.some((a) => SECRET_NAME.test(single(a) ?? ''))) this.add('ask', 'ask.secret-variable', subject, true);
    if (name === 'ln') this.symlinkCheck(args, scope, subject);
    const key = interpreterKey(name);
    if (key) this.interpreter(key, args, subject, stdin, scope);
  }

  /**
   * git settings that run programs: `-c core.fsmonitor=…`, `--config-env`, `git config alias.x '!…'`,
   * and the repository git would use (another one's config, or ours holding such a setting).
   */
  private gitSettings(args: Word[], scope: Scope, subject: string): void {
    const { operands, optionValues } = splitArgs('git', args);
    const settings: Word[] = [...(optionValues.get('-c') ?? []), ...(optionValues.get('--config') ?? [])];
    for (const a of args) {
      const text = single(a);
      if (a === operands[0]) break;
      if (text !== null && /^-c./.test(text)) settings.push(literalWord(text.slice(2)));
      if (text === null ? a.prefix.startsWith('--exec-path') : text.startsWith('--exec-path=')) {
        this.add('ask', 'ask.program-setting', subject, false, 'git told to run its commands from another directory');
      }
      if (text === null ? a.prefix.startsWith('--config-env') : text.startsWith('--config-env')) {
        this.add('ask', 'ask.program-setting', subject, false, 'git configuration taken from an environment variable');
      }
    }
    for (const setting of settings) {
      const text = single(setting);
      const [key, value] = text === null ? ['', null] : splitGitSetting(text);
      if (text === null || gitKeyRunsProgram(key, value)) this.add('ask', 'ask.program-setting', subject, false, `git configuration that runs a program (${text === null ? 'not known before it runs' : key})`);
    }
    const sub = single(operands[0]);
    if (sub === 'config') {
      const rest = args.slice(args.indexOf(operands[0] as Word) + 1);
      const reading = rest.some((a) => /^(--get(-all|-regexp|-urlmatch|-color|-colorbool)?|--list|-l|--show-origin|--show-scope|get|list)$/.test(single(a) ?? ''));
      const values = rest.filter((a, i) => !(single(a) ?? 'x').startsWith('-') && !/^(-f|--file|--blob|--default|--type|--comment)$/.test(single(rest[i - 1]) ?? ''));
      if (['set', 'unset', 'get', 'list', 'rename-section', 'remove-section', 'edit'].includes(single(values[0]) ?? '')) values.shift();
      const key = values[0] ? single(values[0]) : null;
      const value = values[1] ? single(values[1]) : null;
      if (!reading && values[0] && (key === null || (values[1] && value === null) || gitKeyRunsProgram(key, value))) {
        this.add('ask', 'ask.program-setting', subject, false, `git configuration that runs a program (${key ?? 'a key not known before it runs'})`);
      }
    }
    // Where git runs: -C, --git-dir, --work-tree; another repository's config could run anything.
    let dir = scope.cwd;
    for (const d of optionValues.get('-C') ?? []) {
      const v = single(d);
      dir = v === null ? null : resolveFrom(dir, v);
    }
    const elsewhere = [...(optionValues.get('--git-dir') ?? []), ...(optionValues.get('--work-tree') ?? [])];
    if (args.some((a) => /^--(git-dir|work-tree)$/.test(single(a) ?? ''))) elsewhere.push(unknownWord('--git-dir'));
    const outside = (p: string | null): boolean => p === null || !isInside(p, this.opts.sandboxRoot);
    if (outside(dir) || elsewhere.some((w) => placesOf(w, this.pathContext({ ...scope, cwd: dir })).some((p) => p !== 'inside' && p !== 'sandboxRoot'))) {
      this.add('ask', 'ask.git-outside', subject);
      return;
    }
    // The global configuration in HOME: the agent's HOME is the sandbox root.
    for (const home of new Set([this.opts.sandboxRoot, this.opts.home])) {
      for (const file of ['.gitconfig', '.config/git/config']) {
        const risky = settingsFileRisk(posix.join(home, file), 'git');
        if (risky) {
          this.add('ask', 'ask.program-setting', subject, false, `git's global configuration (${file}) runs a program (${risky})`);
          return;
        }
      }
    }
    if (sub === 'init' || sub === 'clone' || dir === null) return;
    const repo = repositoryConfig(dir, this.opts.sandboxRoot);
    if (repo === 'outside') this.add('ask', 'ask.git-outside', subject);
    else if (repo) {
      const risky = settingsFileRisk(repo.config, 'git');
      if (risky) this.add('ask', 'ask.program-setting', subject, false, `the repository's git configuration runs a program (${risky})`);
    }
  }

  /** A link to outside the sandbox turns later in-sandbox paths into outside ones. */
  private symlinkCheck(args: Word[], scope: Scope, subject: string): void {
    // A relative symlink source is read from the link's own directory.
    const { operands } = splitArgs('ln', args);
    const sources = operands.length > 1 ? operands.slice(0, -1) : operands;
    const link = operands.length > 1 ? single(operands[operands.length - 1]) : '.';
    const linkPath = link === null ? null : resolveFrom(scope.cwd, link);
    let linkDir = linkPath;
    if (linkPath !== null && link !== null && !link.endsWith('/')) {
      try {
        if (!statSync(linkPath).isDirectory()) linkDir = posix.dirname(linkPath);
      } catch {
        linkDir = posix.dirname(linkPath);
      }
    }
    const linkCtx = { ...this.pathContext(scope), cwd: linkDir };
    if (sources.some((w) => placesOf(w, linkCtx).some((p) => p !== 'inside'))) this.add('ask', 'ask.symlink-outside', subject, true);
  }

  /** Does a word contain a substitution that downloads (`$(curl ..)`, `<(wget ..)`, `/dev/tcp`) or a variable holding such text? */
  private fetches(word: Word, scope: Scope): boolean {
    if (!word.node) return false;
    if (scope.fetched.size > 0) {
      const refs = word.node.descendantsOfType('variable_name').map((n) => n?.text ?? '');
      if (word.node.type === 'simple_expansion' || word.node.type === 'expansion') refs.push(word.node.namedChildren[0]?.text ?? '');
      if (refs.some((r) => scope.fetched.has(r))) return true;
    }
    if (!word.substitution) return false;
    if (/\/dev\/(tcp|udp)\//.test(word.text)) return true;
    return word.node.descendantsOfType('command_name').some((n) => {
      const base = n ? commandBase(n.text.replace(/\\|['"]/g, '')) : null;
      return base !== null && FETCHERS.has(base);
    });
  }

  private simpleCommand(name: string, args: Word[], scope: Scope, targets: Word[]): SimpleCommand {
    let places: Set<GuardTarget | 'inside'> | undefined;
    return {
      name,
      args,
      targets: () => {
        places ??= new Set(targets.flatMap((t) => placesOf(t, this.pathContext(scope))));
        return places;
      },
    };
  }

  /** Built-in rules first, then guard.json rules; a user `allow` lifts liftable asks on this command. */
  private applyRules(command: SimpleCommand, subject: string, start: number): void {
    let allowRule: string | null = null;
    for (const compiled of this.opts.rules) {
      if (!ruleMatches(compiled, command)) continue;
      const { rule } = compiled;
      if (rule.decision === 'allow') {
        if (compiled.fromUser) allowRule ??= rule.id;
        continue;
      }
      this.findings.push({ decision: rule.decision, rule: rule.id, reason: `${rule.reason}: \`${oneLine(subject)}\``, liftable: true });
    }
    if (allowRule === null) return;
    this.allowedBy.push(allowRule);
    for (let i = this.findings.length - 1; i >= start; i--) {
      const f = this.findings[i] as Finding;
      if (f.decision === 'ask' && f.liftable) this.findings.splice(i, 1);
    }
  }

  /** Shell builtins that change how the rest is read. True when fully handled. */
  private builtin(name: string, args: Word[], scope: Scope, depth: number, subject: string): boolean {
    switch (name) {
      case 'cd':
      case 'pushd': {
        const target = args.find((a) => !(single(a) ?? '').startsWith('-') || single(a) === '-');
        if (!target) {
          // `cd` alone goes to $HOME, which the command may have set.
          const home = scope.vars.has('HOME') ? (scope.vars.get('HOME') ?? null) : [this.opts.home];
          if (name === 'cd') scope.cwd = home?.length === 1 ? (home[0] ?? null) : null;
        }
        else {
          const value = single(target);
          scope.cwd = value === null || /^[-+]\d*$/.test(value) ? null : resolveFrom(scope.cwd, value);
        }
        return true;
      }
      case 'popd':
        scope.cwd = null;
        return true;
      case 'eval':
        this.add('ask', 'ask.eval', subject);
        this.codeString(args, scope, depth, subject);
        return true;
      case 'source':
      case '.': {
        const file = args[0];
        if (!file) return true;
        if (file.substitution && file.values === null) {
          this.add('ask', 'ask.source-outside', subject);
          return true;
        }
        const text = this.script(file, scope, depth, subject, false, 'ask.source-outside');
        if (text !== null) this.forgetChangesOf(text, scope);
        return true;
      }
      case 'exec': {
        const rest = splitArgs('exec', args);
        if (rest.operands.length === 0) return true;
        this.add('ask', 'ask.exec', subject);
        const start = args.indexOf(rest.operands[0] as Word);
        this.simple(args.slice(start), scope, depth, subject, NO_STDIN);
        return true;
      }
      case 'alias':
        if (!args.some((a) => (single(a) ?? '=').includes('='))) return true; // listing aliases
        this.add('ask', 'ask.alias', subject);
        for (const a of args) {
          const value = single(a);
          const eq = value?.indexOf('=') ?? -1;
          if (value && eq > 0) this.analyzeSource(value.slice(eq + 1), this.childScope(scope), depth + 1);
        }
        return true;
      case 'read':
      case 'mapfile':
      case 'readarray':
      case 'printf':
      case 'getopts':
      case 'wait':
        this.assigningBuiltin(name, args, scope, depth, subject);
        return false;
      case 'enable':
      case 'hash':
      case 'fc':
        // `enable -f lib.so x` loads a builtin from a file; `hash -p ./evil ls` makes `ls` run it; `fc` re-runs history.
        if (name !== 'hash' || hasFlag(args, '-p')) {
          if (args.length > 0 || name === 'fc') this.add('ask', 'ask.shell-code-unknown', subject, false, 'changes what a command name runs, or runs history');
        }
        return true;
      case 'trap': {
        // `trap 'code' EXIT`: the first operand is code run later.
        const code = args.find((a) => !(single(a) ?? '').startsWith('-'));
        if (code) {
          this.codeString([code], scope, depth, subject);
          // A DEBUG or RETURN trap runs before later commands, in this shell.
          this.forgetChangesOf(single(code) ?? 'cd', scope);
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** `read x`, `printf -v x`, `mapfile a`: the variables they set hold values unknown before the command runs. */
  private assigningBuiltin(name: string, args: Word[], scope: Scope, depth: number, subject: string): void {
    const names: Word[] = [];
    const valueOptions: Record<string, string[]> = {
      read: ['-a', '-d', '-i', '-n', '-N', '-p', '-t', '-u'],
      mapfile: ['-d', '-n', '-O', '-s', '-u', '-C', '-c'],
      readarray: ['-d', '-n', '-O', '-s', '-u', '-C', '-c'],
      printf: ['-v'],
      getopts: [],
      wait: ['-p'],
    };
    const takes = valueOptions[name] ?? [];
    const operands: Word[] = [];
    for (let i = 0; i < args.length; i++) {
      const text = single(args[i]);
      if (text !== null && text.startsWith('-') && text.length > 1 && operands.length === 0) {
        const flag = text.slice(0, 2);
        if (!takes.includes(flag)) continue;
        const value = text.length > 2 ? literalWord(text.slice(2)) : args[++i];
        if (!value) continue;
        if ((flag === '-a' && name === 'read') || (flag === '-v' && name === 'printf') || (flag === '-p' && name === 'wait')) names.push(value);
        // `mapfile -C 'code' -c 1 arr`: a callback run as shell code.
        if (flag === '-C') this.codeString([value], scope, depth, subject);
        continue;
      }
      operands.push(args[i] as Word);
    }
    if (name === 'read') names.push(...(operands.length > 0 ? operands : [literalWord('REPLY')]));
    if (name === 'mapfile' || name === 'readarray') names.push(operands[0] ?? literalWord('MAPFILE'));
    if (name === 'getopts' && operands[1]) names.push(operands[1]);
    for (const word of names) {
      const variable = single(word);
      if (variable === null || !/^[A-Za-z_][A-Za-z0-9_]*(\[.*\])?$/.test(variable)) {
        this.add('ask', 'ask.indirect-variable', subject, false, 'assigns a variable whose name is computed at run time');
        continue;
      }
      const base = variable.replace(/\[.*$/, '');
      scope.vars.set(base, null);
      this.settingAssigned(base, unknownWord(subject), subject, scope, depth);
    }
  }

  /** Words joined and run as shell code (eval, `bash -c`, watch, `env -S`). */
  private codeString(words: Word[], scope: Scope, depth: number, subject: string): void {
    if (words.some((w) => w.substitution && w.values === null)) {
      // The code is computed at run time; the substitutions themselves were walked already.
      this.add('ask', 'ask.shell-code-unknown', subject);
      return;
    }
    const values = words.map((w) => single(w));
    if (values.some((v) => v === null)) {
      this.add('ask', 'ask.shell-code-unknown', subject);
      return;
    }
    this.analyzeSource(values.join(' '), this.childScope(scope), depth + 1);
  }

  private shell(name: string, args: Word[], scope: Scope, depth: number, subject: string, stdinOf: StdinOf): void {
    const options: string[] = [];
    let i = 0;
    for (; i < args.length; i++) {
      const text = single(args[i]);
      if (text === null || !/^[-+]/.test(text) || text === '-' || text === '--') {
        if (text === '--') i++;
        break;
      }
      options.push(text);
      if (/^[-+][oO]$/.test(text)) i++;
    }
    const operands = args.slice(i);
    this.startupFiles(options, scope, depth, subject);
    const hasC = options.some((o) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(o));
    if (hasC) {
      const code = operands[0];
      if (!code) return;
      this.codeString([code], scope, depth, subject);
      return;
    }
    const script = operands[0];
    const fromStdin = !script || single(script) === '-' || options.some((o) => /^-[a-zA-Z]*s/.test(o));
    if (!fromStdin && script) {
      this.script(script, scope, depth, subject, false);
      return;
    }
    const stdin = stdinOf();
    if (!stdin) return; // interactive, or fed by a pipe (judged by the pipeline)
    if (stdin.kind === 'text') this.analyzeSource(stdin.text, this.childScope(scope), depth + 1);
    else if (stdin.kind === 'word') this.codeString([stdin.word], scope, depth, subject);
    else this.script(stdin.word, scope, depth, subject, false);
  }

  /**
   * `bash -lc`, `bash -i`: a login or interactive shell first runs startup files from HOME (the
   * agent's HOME is the sandbox root) — judged like scripts; `--rcfile F` names one.
   */
  private startupFiles(options: string[], scope: Scope, depth: number, subject: string): void {
    const login = options.some((o) => o === '--login' || /^-[a-zA-Z]*l[a-zA-Z]*$/.test(o));
    const interactive = options.some((o) => /^-[a-zA-Z]*i[a-zA-Z]*$/.test(o));
    if (options.some((o) => /^--(rcfile|init-file)/.test(o))) this.add('ask', 'ask.unknown-script', subject, false, 'the shell first runs a startup file it is given');
    const files = [...(login ? ['.bash_profile', '.bash_login', '.profile'] : []), ...(interactive ? ['.bashrc'] : [])];
    for (const home of new Set([this.opts.sandboxRoot, this.opts.home])) {
      for (const file of files) {
        const path = posix.join(home, file);
        try {
          if (!statSync(path).isFile()) continue;
        } catch {
          continue;
        }
        this.script(literalWord(path), scope, depth, subject, false);
      }
    }
  }

  private interpreter(key: string, args: Word[], subject: string, stdinOf: StdinOf, scope: Scope): void {
    const inline = INTERPRETERS[key] ?? [];
    const texts = args.map((a) => single(a) ?? '');
    const inlineFlag = texts.some(
      (t) =>
        inline.includes(t) ||
        inline.some((f) => f.length === 2 && t.startsWith(f) && t.length > 2 && !t.startsWith('--')) ||
        // `python3 -Ic 'code'`, `node -pe 'code'`: the flag inside a bundle of short options.
        inline.some((f) => f.length === 2 && new RegExp(`^-[A-Za-z]*${f[1]}[A-Za-z]*$`).test(t)) ||
        inline.some((f) => f.startsWith('-') && f.length > 2 && t.startsWith(`${f}=`)) ||
        // `node --import data:text/javascript,…`: module text given inline.
        /^(-r|--require|--import|--loader|--experimental-loader)(=|$)/.test(t) && texts.some((v) => /^(data|https?):/.test(v)) ||
        ((key === 'perl' || key === 'ruby') && /^-[a-zA-Z]*[eE][a-zA-Z]*$/.test(t)),
    );
    if (inlineFlag || (key === 'deno' && texts[0] === 'eval')) {
      this.add('ask', 'ask.inline-code', subject, true);
      return;
    }
    const { operands } = splitArgs(key, args);
    const fromStdin = operands.length === 0 || single(operands[0]) === '-';
    const stdin = fromStdin ? stdinOf() : null;
    if (stdin && stdin.kind !== 'file') this.add('ask', 'ask.inline-code', subject, true);
    const script = operands[0];
    if (script && script.values === null && script.substitution && !this.listsInside(script, scope)) this.add('ask', 'ask.unknown-script', subject);
  }

  /** package.json scripts, make recipes and git hooks the command runs (projectCode.ts). */
  private projectCode(name: string, args: Word[], scope: Scope, depth: number, subject: string): void {
    if (PACKAGE_MANAGERS.has(name)) {
      this.packageManagerSettings(args, scope, depth, subject);
      // `npm --prefix .. test`, `cd .. && npm test`: scripts of a package.json outside the sandbox.
      const { optionValues, operands } = splitArgs(name, args);
      const moved = ['--prefix', '-C', '--dir', '--cwd'].flatMap((k) => optionValues.get(k) ?? []);
      let dir = scope.cwd;
      for (const w of moved) dir = single(w) === null ? null : resolveFrom(dir, single(w) as string);
      const harmless = ['-v', '--version', 'version', 'help', 'ls', 'list', 'view', 'info', 'outdated', 'why', 'config', 'get', 'root', 'bin', 'prefix'];
      const sub = single(operands[0]) ?? (args.length === 0 ? 'install' : single(args[0]));
      if ((dir === null || !isInside(dir, this.opts.sandboxRoot)) && !harmless.includes(sub ?? '')) {
        this.add('ask', 'ask.unknown-script', subject, false, 'runs package scripts outside the sandbox or in an unknown directory');
      } else if (moved.length > 0 && dir !== null) {
        for (const text of packageScriptTexts(name, args, dir)) this.analyzeSource(text, { ...this.childScope(scope), cwd: dir }, depth + 1);
      }
    }
    if (PACKAGE_MANAGERS.has(name) && scope.cwd !== null && ['package.json', '.npmrc'].some((f) => this.writtenEarlier(posix.join(scope.cwd as string, f)))) {
      this.add('ask', 'ask.unknown-script', subject, false, 'runs package.json scripts that this command changes first');
    } else if (PACKAGE_MANAGERS.has(name) && scope.cwd !== null && isInside(scope.cwd, this.opts.sandboxRoot)) {
      for (const text of packageScriptTexts(name, args, scope.cwd)) this.analyzeSource(text, this.childScope(scope), depth + 1);
    }
    if (name === 'make' || name === 'gmake') {
      // `make SHELL=./x`, `make MAKEFLAGS=…`, `make --eval=…`: recipes run by another program, or make code given inline.
      for (const a of args) {
        const text = single(a);
        if (text === null || /^((SHELL|\.SHELLFLAGS|MAKESHELL|MAKEFLAGS|MFLAGS|GNUMAKEFLAGS|MAKEFILES)\s*[:+?!]*=|--eval(=|$)|-E$)/.test(text)) {
          this.add('ask', 'ask.program-setting', subject, false, text === null ? 'make is given an argument not known before it runs' : 'make is told to run its recipes with another program or given make code');
          break;
        }
      }
      if (scope.cwd !== null && ['GNUmakefile', 'makefile', 'Makefile'].some((f) => this.writtenEarlier(posix.join(scope.cwd as string, f)))) {
        this.add('ask', 'ask.unknown-script', subject, false, 'runs a makefile that this command changes first');
      }
      const plan = makeCode(name, args, scope.cwd, this.opts.sandboxRoot);
      if (plan && !plan.ok) this.add('ask', 'ask.unknown-script', subject, false, plan.reason);
      if (plan?.ok) {
        if (plan.customShell) this.add('ask', 'ask.unknown-script', subject, false, 'the makefile runs its recipes with another shell');
        for (const code of plan.codes) this.analyzeSource(code, { ...this.childScope(scope), cwd: plan.cwd }, depth + 1);
      }
    }
    if (name === 'git') for (const hook of gitHookPaths(args, scope.cwd)) this.script(literalWord(hook), scope, depth, subject, true);
  }

  /** `npm --script-shell=./x test`, an `.npmrc` naming a shell or node options: the program they name runs. */
  private packageManagerSettings(args: Word[], scope: Scope, depth: number, subject: string): void {
    for (let i = 0; i < args.length; i++) {
      const text = single(args[i]);
      if (text === null || !text.startsWith('--')) continue;
      const eq = text.indexOf('=');
      const key = (eq > 0 ? text.slice(2, eq) : text.slice(2)).replace(/-/g, '_');
      const kind = settingVarKind(`npm_config_${key}`);
      if (kind === 'injection') this.add('ask', 'ask.program-setting', subject, false, `a package-manager setting that loads other code (--${key})`);
      if (kind === 'program') this.settingAssigned(`npm_config_${key}`, eq > 0 ? literalWord(text.slice(eq + 1)) : (args[i + 1] ?? literalWord('')), subject, scope, depth);
    }
    const dirs = new Set([scope.cwd, this.opts.sandboxRoot].filter((d): d is string => d !== null && isInside(d, this.opts.sandboxRoot)));
    for (const dir of dirs) {
      const risky = settingsFileRisk(posix.join(dir, '.npmrc'), 'npmrc');
      if (risky) {
        this.add('ask', 'ask.program-setting', subject, false, `the project's .npmrc names a program or other configuration (${risky})`);
        return;
      }
    }
  }

  /** `grep -r x ~`, `tar czf out.tgz ~`, `cp -r ~ .`: a recursive read over a directory holding credentials. */
  private recursiveRead(name: string, args: Word[], scope: Scope, subject: string): void {
    const recursive =
      name === 'rg' || name === 'ag' || name === 'find' ||
      ((name === 'grep' || name === 'egrep' || name === 'zip' || name === 'cp' || name === 'scp') && (hasFlag(args, '-r') || hasFlag(args, '-R') || hasFlag(args, '--recursive'))) ||
      (name === 'cp' && (hasFlag(args, '-a') || hasFlag(args, '--archive'))) ||
      name === 'tar' || name === 'rsync';
    if (!recursive) return;
    const samples = this.opts.protectedPaths.samples;
    for (const word of args) {
      const value = single(word);
      if (value === null || value.startsWith('-')) continue;
      const path = resolveFrom(scope.cwd ?? this.opts.sandboxRoot, value);
      if (path === null || isInside(path, this.opts.sandboxRoot)) continue;
      const prefix = path === '/' ? '/' : `${path}/`;
      if (samples.some((sample) => sample.startsWith(prefix))) {
        this.add('ask', 'ask.recursive-read', subject, true);
        return;
      }
    }
  }

  /**
   * A script run by a shell, sourced, or executed by path. Inside the sandbox and already on disk:
   * a shell script's text is parsed and judged like the command line; other files (binaries,
   * Python, Node) are allowed (the sandbox is the backstop). Missing or outside: ask.
   */
  /** Returns the shell text judged, or null when none was (asked about, or not shell). */
  private script(word: Word, scope: Scope, depth: number, subject: string, executed: boolean, askRule = 'ask.unknown-script'): string | null {
    if (this.fetches(word, scope)) {
      this.add('deny', 'deny.download-exec', subject);
      return null;
    }
    const value = single(word);
    if (value === null) {
      this.add('ask', askRule, subject);
      return null;
    }
    const path = resolveFrom(scope.cwd, value);
    if (path === null || !isInside(path, this.opts.sandboxRoot)) {
      this.add('ask', askRule, subject);
      return null;
    }
    if (this.writtenEarlier(path)) {
      this.add('ask', askRule, subject, false, 'runs a script that this command writes first, so its text is not known');
      return null;
    }
    let text: string;
    try {
      const stat = statSync(path);
      if (!stat.isFile()) {
        if (!this.opts.isolated) this.add('ask', 'ask.not-isolated', subject, true, 'runs a file that is not a script the guard can read, and no OS sandbox holds it');
        return null;
      }
      if (stat.size > MAX_SCRIPT_BYTES) {
        this.add('ask', askRule, subject);
        return null;
      }
      text = readFileSync(path, 'utf8');
    } catch {
      this.add('ask', askRule, subject);
      return null;
    }
    const unreadable = (): null => {
      // A binary or a program for another interpreter: only the OS sandbox can hold it.
      if (!this.opts.isolated) this.add('ask', 'ask.not-isolated', subject, true, 'runs a binary or a non-shell script, and no OS sandbox holds it');
      return null;
    };
    if (text.includes('\u0000')) return unreadable();
    const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(text);
    if (executed && shebang) {
      const interp = posix.basename(shebang[1] ?? '');
      const real = interp === 'env' ? (shebang[2] ?? '') : interp;
      if (!SHELLS.has(real)) return unreadable();
    }
    this.analyzeSource(text, { vars: this.baseVars(), cwd: scope.cwd, functions: new Set(), fetched: new Set() }, depth + 1);
    return text;
  }
}

/**
 * The text a here-doc feeds, cut from the source between its first line end and its delimiter
 * (tree-sitter's heredoc_body is unreliable, e.g. when the body starts with a backslash). An
 * unquoted delimiter means bash first removes the backslash before \\, \$, \` and newline.
 */
function heredocText(redirect: Node): string {
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

/**
 * Bash splits an unquoted expansion's value into words: `x='a /etc'; rm -rf $x` removes `a` and
 * `/etc`. A value with blanks becomes several words; after `IFS=…` the split is not followed.
 */
function splitUnquoted(word: Word, ifsChanged: boolean): Word[] {
  const node = word.node;
  if (!node || word.values === null) return [word];
  const expansions = node.type === 'simple_expansion' || node.type === 'expansion' ? [node] : node.type === 'concatenation' ? node.namedChildren.filter((c) => c?.type === 'simple_expansion' || c?.type === 'expansion') : [];
  if (expansions.length === 0) return [word];
  const unknownSplit: Word = { ...word, values: null, prefix: '' };
  if (ifsChanged) return [unknownSplit];
  if (!word.values.some((v) => /[ \t\n]/.test(v))) return [word];
  if (word.values.length !== 1 || node.type === 'concatenation') return [unknownSplit];
  return (word.values[0] ?? '').split(/[ \t\n]+/).filter(Boolean).map((v) => ({ ...word, values: [v] }));
}

/** tar's operands that follow a `-C DIR`/`--directory=DIR`, as paths under that directory. */
function tarRelocated(args: Word[], cwd: string | null): Word[] {
  const out: Word[] = [];
  let dir: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const text = single(args[i]);
    if (text === '-C' || text === '--directory') {
      const value = single(args[++i]);
      dir = value === null ? null : resolveFrom(cwd, value);
      continue;
    }
    if (text?.startsWith('--directory=')) {
      dir = resolveFrom(cwd, text.slice('--directory='.length));
      continue;
    }
    if (dir !== null && text !== null && !text.startsWith('-')) out.push(literalWord(posix.resolve(dir, text)));
  }
  return out;
}

/** Values a variable may hold after one of two ways: the same, or unknown. */
function sameValues(a: string[] | null | undefined, b: string[] | null | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** `target` becomes what holds whichever of `target` and `other` happened. Returns `target`. */
function mergeScopes(target: Scope, other: Scope): Scope {
  for (const name of new Set([...target.vars.keys(), ...other.vars.keys()])) {
    if (!sameValues(target.vars.get(name), other.vars.get(name))) target.vars.set(name, null);
  }
  if (target.cwd !== other.cwd) target.cwd = null;
  for (const f of other.functions) target.functions.add(f);
  for (const f of other.fetched) target.fetched.add(f);
  return target;
}

function sameScope(a: Scope, b: Scope): boolean {
  if (a.cwd !== b.cwd || a.vars.size !== b.vars.size) return false;
  for (const [name, values] of a.vars) if (!sameValues(values, b.vars.get(name))) return false;
  return true;
}

/** What a wrapper itself writes: `time -o F`, `strace -o F`, `script F` (its typescript). */
function wrapperOutputs(name: string, args: Word[], inner: Word[] | null): Word[] {
  const first = inner?.[0];
  const own = first ? args.slice(0, Math.max(0, args.indexOf(first))) : args;
  if (name === 'script') {
    const { operands, optionValues } = splitArgs('script', args);
    const logs = ['-T', '--log-timing', '-I', '-O', '-B', '--log-in', '--log-out', '--log-io'].flatMap((k) => optionValues.get(k) ?? []);
    return [...operands.slice(0, 1), ...logs];
  }
  return genericOutputs(own);
}

/** `/usr/bin/rm` -> `rm`; null stays null. */
function commandBase(value: string | null): string | null {
  if (value === null) return null;
  return value.includes('/') ? posix.basename(value) : value;
}
