import { statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Node, Parser } from 'web-tree-sitter';
import { STRUCTURAL_RULES } from './defaultRules.ts';
import { parseWith } from './parser.ts';
import { isInside } from './paths.ts';
import type { PathContext, ProtectedMatcher } from './paths.ts';
import type { CompiledRule } from './ruleMatch.ts';
import type { Vars, Word, WordEnv } from './words.ts';
import { assignment, declaration, expansion, unset } from './analyze/assignments.ts';
import { andOr, caseStatement, cStyleFor, forStatement, ifStatement, whileStatement } from './analyze/controlFlow.ts';
import { commandSubstitution } from './analyze/expansions.ts';
import { oneLine } from './analyze/findings.ts';
import type { Decision, Finding } from './analyze/findings.ts';
import { forkBombs, functionDefinition } from './analyze/functions.ts';
import type { FunctionInfo } from './analyze/functions.ts';
import { pipeline, processSubstitution } from './analyze/pipelines.ts';
import { heredoc, redirect } from './analyze/redirects.ts';
import { childScope } from './analyze/scope.ts';
import type { Scope } from './analyze/scope.ts';
import { command, simple } from './analyze/simpleCommand.ts';
import type { StdinOf } from './analyze/stdin.ts';

export type { Decision, Finding } from './analyze/findings.ts';

/**
 * The walk: every simple command in the parse (pipelines, lists, subshells, substitutions,
 * function bodies, here-docs run by shells, `bash -c` strings, wrapped commands) is judged, and
 * each judgement adds findings. The verdict is made from all findings (index.ts).
 *
 * This file holds the walk's state and sends each node type to the module that knows that
 * construct (analyze/*.ts). Those modules re-enter the walk only through `walk`,
 * `analyzeSource` and `simple` here, so none of them imports another's caller.
 */

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

/** Code nested deeper than this (`bash -c` in `eval` in a script …) is asked about. */
const MAX_DEPTH = 8;

export class Analyzer {
  readonly findings: Finding[] = [];
  /** Allow rules from guard.json that matched a command (for the verdict's rule id). */
  readonly allowedBy: string[] = [];
  readonly opts: AnalyzeOptions;
  /**
   * Paths (with everything under them) that commands earlier in this command line write: a script,
   * package.json or makefile among them is run with text the guard cannot read now (written.ts).
   */
  readonly written: string[] = [];
  /** Every function defined anywhere in the command: what it calls, whether it spawns (functions.ts). */
  readonly functionGraph = new Map<string, FunctionInfo>();
  /** Loop bodies judged a second time so far (controlFlow.ts). */
  secondPasses = 0;
  /** The command being judged reads names piped from a stage that names outside paths (pipelines.ts). */
  pipedFromOutside = false;
  private readonly realCache = new Map<string, string | null>();
  private readonly gitTops = new Map<string, string | null>();

  constructor(opts: AnalyzeOptions) {
    this.opts = opts;
  }

  analyze(source: string, cwd: string): void {
    this.analyzeSource(source, this.freshScope(cwd), 0);
    forkBombs(this);
  }

  /** A new shell in `cwd`: only the variables known before the command runs. */
  freshScope(cwd: string | null): Scope {
    // $HANDOFF_HOME; $HOME and $PWD are looked up in words.ts.
    const vars: Vars = new Map([['HANDOFF_HOME', [this.opts.handoffHome]]]);
    return { vars, cwd, functions: new Set(), fetched: new Set() };
  }

  /** Parse `source` and walk it: the command line itself, and any code it runs that the guard can read. */
  analyzeSource(source: string, scope: Scope, depth: number): void {
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

  walk(node: Node, scope: Scope, depth: number): void {
    switch (node.type) {
      case 'command':
        return command(this, node, scope, depth);
      case 'command_substitution':
        return commandSubstitution(this, node, scope, depth);
      case 'process_substitution':
        return processSubstitution(this, node, scope, depth);
      case 'subshell':
        return this.walkChildren(node, childScope(scope), depth);
      case 'variable_assignment':
        return assignment(this, node, scope, depth, true);
      case 'declaration_command':
        return declaration(this, node, scope, depth);
      case 'expansion':
        return expansion(this, node, scope, depth);
      case 'unset_command':
        return unset(this, node, scope, depth);
      case 'function_definition':
        return functionDefinition(this, node, scope, depth);
      case 'for_statement':
        return forStatement(this, node, scope, depth);
      case 'while_statement':
        return whileStatement(this, node, scope, depth);
      case 'c_style_for_statement':
        return cStyleFor(this, node, scope, depth);
      case 'list':
        andOr(this, node, scope, depth);
        return;
      case 'if_statement':
        return ifStatement(this, node, scope, depth);
      case 'case_statement':
        return caseStatement(this, node, scope, depth);
      case 'pipeline':
        return pipeline(this, node, scope, depth);
      case 'file_redirect':
        return redirect(this, node, scope, depth);
      case 'heredoc_redirect':
        return heredoc(this, node, scope, depth);
      default:
        return this.walkChildren(node, scope, depth);
    }
  }

  walkChildren(node: Node, scope: Scope, depth: number): void {
    const children = node.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (!child?.isNamed) continue;
      // `x=build & …`: a background job runs in a subshell; it changes nothing here.
      if (children[i + 1]?.text === '&' && !children[i + 1]?.isNamed) this.walk(child, childScope(scope), depth);
      else this.walk(child, scope, depth);
    }
  }

  /** Judge one simple command given as words (name first): simpleCommand.ts. */
  simple(words: Word[], scope: Scope, depth: number, subject: string, stdin: StdinOf): void {
    simple(this, words, scope, depth, subject, stdin);
  }

  add(decision: Decision, rule: string, subject: string, liftable = false, reason?: string): void {
    this.findings.push({
      decision,
      rule,
      reason: `${reason ?? STRUCTURAL_RULES[rule] ?? rule}: \`${oneLine(subject)}\``,
      liftable,
    });
  }

  pathContext(scope: Scope): PathContext {
    return {
      cwd: scope.cwd,
      sandboxRoot: this.opts.sandboxRoot,
      realRoot: this.opts.realRoot,
      realCache: this.realCache,
      home: this.opts.home,
      handoffHome: this.opts.handoffHome,
    };
  }

  wordEnv(scope: Scope): WordEnv {
    const cwd = scope.cwd;
    return { vars: scope.vars, home: this.opts.home, cwd, gitTop: () => this.gitTopOf(cwd) };
  }

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
}
