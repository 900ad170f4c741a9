import { readdirSync } from 'node:fs';
import { posix } from 'node:path';
import type { GuardTarget } from '@handoff/contracts';
import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { NO_FILES, notIsolatedReason } from '../allowlist.ts';
import { DELETERS, SHELLS, commandBase, findParts, interpreterKey, unwrap, writeTargets } from '../commandFacts.ts';
import { CREDENTIAL_MARKER, isInside, placesOf, protectedTarget, resolveFrom } from '../paths.ts';
import { ruleMatches } from '../ruleMatch.ts';
import type { SimpleCommand } from '../ruleMatch.ts';
import { literalWord, single } from '../words.ts';
import type { Word } from '../words.ts';
import { assignment } from './assignments.ts';
import { builtin } from './builtins.ts';
import { recursiveRead, SECRET_NAME, ownChecks } from './commandChecks.ts';
import { script, shell } from './codeRunners.ts';
import { databaseClient, serviceNotPaths } from './services.ts';
import { commandWords, fetches, listsInside } from './expansions.ts';
import { oneLine } from './findings.ts';
import type { Finding } from './findings.ts';
import { functionCall } from './functions.ts';
import { packageManagerSettings, projectCode } from './projectScripts.ts';
import { heredoc } from './redirects.ts';
import type { Scope } from './scope.ts';
import { NO_STDIN, stdinOf } from './stdin.ts';
import type { Stdin, StdinOf } from './stdin.ts';
import { packageManagerExec, runnerCommand, wrapped, wrapperOutputs } from './wrappers.ts';
import { noteTreeChanges, noteWritten, writtenEarlier } from './written.ts';

/**
 * A simple command (`name args…`): its credentials and computed paths, the rules, what it
 * writes, and then whatever it runs in turn (builtins, wrapped commands, shells, scripts, project
 * code), each judged like a command of its own.
 */

/** Builtins and wrappers whose operands become code. */
const CODE_RUNNERS = new Set([
  'eval',
  'source',
  '.',
  'exec',
  'watch',
  'trap',
  'xargs',
  'env',
  'timeout',
  'nohup',
  'nice',
  'setsid',
  'flock',
]);
const RESERVED_WORDS = new Set([
  '!',
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'for',
  'while',
  'until',
  'case',
  'esac',
  'in',
  'function',
  'select',
  'coproc',
  '{',
  '}',
  '[[',
  ']]',
]);

/** A `command` node: its assignments, redirects and substitutions are walked, then its words judged. */
export function command(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  for (let i = 0; i < node.childCount; i++) {
    const child = node.child(i);
    if (!child) continue;
    const field = node.fieldNameForChild(i);
    if (child.type === 'variable_assignment') assignment(a, child, scope, depth, false);
    else if (field === 'redirect' && child.type === 'heredoc_redirect') heredoc(a, child, scope, depth);
    else a.walk(child, scope, depth);
  }
  const words = commandWords(a, node, scope);
  if (words.length === 0) return;
  let stdin: Stdin | undefined;
  simple(a, words, scope, depth, node.text, () => (stdin ??= stdinOf(a, node, scope)));
}

/** Judge one simple command given as words (name first). */
export function simple(a: Analyzer, words: Word[], scope: Scope, depth: number, subject: string, stdin: StdinOf): void {
  // Findings from here on belong to this simple command (an allow rule may lift its liftable asks).
  const mark = a.findings.length;
  const nameWord = words[0] as Word;
  const args = words.slice(1);
  credentials(a, nameWord, args, words, scope, subject);
  const written = single(nameWord);
  if (written === null) {
    a.add('ask', 'ask.dynamic-command', subject);
    return;
  }
  if (RESERVED_WORDS.has(written)) {
    // tree-sitter misreads some valid forms (`! if …`, `! ! cmd`) as a command named by a
    // reserved word: judge the words after it as the command they are.
    if (written !== '!' && written !== 'coproc') a.add('ask', 'ask.parse-error', subject);
    if (args.length > 0) simple(a, args, scope, depth, subject, stdin);
    return;
  }
  let name = written;
  if (written.includes('/')) {
    const resolved = resolveFrom(scope.cwd, written);
    if (resolved !== null && isInside(resolved, a.opts.sandboxRoot)) {
      script(a, literalWord(resolved), scope, depth, subject, true);
      return;
    }
    if (resolved === null) {
      a.add('ask', 'ask.dynamic-command', subject);
      return;
    }
    name = posix.basename(resolved);
  }
  // Judged case-insensitively: on macOS's file system `RM` runs /bin/rm.
  name = name.toLowerCase();
  if (scope.functions.has(name) && !written.includes('/')) {
    functionCall(a, name, scope);
    return;
  }

  if (
    CODE_RUNNERS.has(name) ||
    SHELLS.has(name) ||
    interpreterKey(name) !== null ||
    databaseClient(name, args) !== null
  ) {
    // `bash -c "$(curl ..)"`, `source <(curl ..)`, `python3 -c "$(wget ..)"`, `psql -c "$(curl ..)"`
    if (args.some((w) => fetches(w, scope))) a.add('deny', 'deny.download-exec', subject);
  }
  const unwrapped = unwrap(name, args);
  if (!unwrapped && !NO_FILES.has(name) && !CODE_RUNNERS.has(name) && !SHELLS.has(name)) {
    // `psql "$DATABASE_URL" -c …`: a connection target or a statement names no file (services.ts).
    const notPaths = serviceNotPaths(name, args);
    unresolvedArguments(a, name, notPaths.size > 0 ? args.filter((w) => !notPaths.has(w)) : args, scope, subject);
  }
  // This command's own checks and rules come first: an allow rule on it lifts their liftable
  // asks, never those of the code it goes on to run (judged below).
  ownChecks(a, name, args, scope, subject, stdin);
  const parts = name === 'find' ? findParts(args) : null;
  let targets: Word[] =
    name === 'busybox' ? [] : unwrapped ? wrapperOutputs(name, args, unwrapped.words) : writeTargets(name, args);
  if (parts) {
    // Listing names is harmless; running a command on every file under ~ or / reads them.
    if (parts.execs.length > 0) recursiveRead(a, name, parts.roots, scope, subject);
    // -delete removes what it finds under each root: a path below the root stands for them.
    targets = parts.deletes
      ? parts.roots.map((r) => (single(r) === null ? r : literalWord(`${(single(r) ?? '').replace(/\/$/, '')}/found`)))
      : [];
    targets.push(...parts.outputs);
  }
  applyRules(a, ruleSubject(a, name, args, scope, targets), subject, mark);
  if (!DELETERS.has(name)) noteWritten(a, targets, scope.cwd);
  noteTreeChanges(a, name, args, scope);
  if (!a.opts.isolated) {
    const kind = unwrapped ? 'wrapper' : SHELLS.has(name) && name !== 'busybox' ? 'shell' : 'plain';
    const why = notIsolatedReason(name, args, a.pathContext(scope), kind);
    if (why) a.add('ask', 'ask.not-isolated', subject, true, `no OS sandbox holds the command, and ${why}`);
  }

  // What the command runs in turn.
  if (builtin(a, name, args, scope, depth, subject)) return;
  if (name === 'npx') packageManagerSettings(a, args, scope, depth, subject);
  if (unwrapped) {
    wrapped(a, name, args, unwrapped, scope, depth, subject, stdin);
    return;
  }
  if (name === 'busybox' && args.length > 0) simple(a, args, scope, depth, subject, stdin);
  runnerCommand(a, name, args, scope, depth, subject, stdin);
  for (const exec of parts?.execs ?? []) simple(a, exec, scope, depth, subject, NO_STDIN);
  if (SHELLS.has(name)) shell(a, args, scope, depth, subject, stdin);
  packageManagerExec(a, name, args, scope, depth, subject, stdin);
  projectCode(a, name, args, scope, depth, subject);
}

/** Protected paths among the words, secrets named by variables, and credential files mentioned. */
function credentials(a: Analyzer, nameWord: Word, args: Word[], words: Word[], scope: Scope, subject: string): void {
  const ctx = a.pathContext(scope);
  for (const word of words) {
    const secret = protectedTarget(word, ctx, a.opts.protectedPaths);
    if (secret) {
      a.add('deny', 'deny.credentials', subject, false, `touches protected path ${secret}`);
      break;
    }
  }
  // `tar -C .. -cf x.tar handoff-home`: operands after `-C DIR` are read from DIR.
  if (/^(g|bsd)?tar$/.test(commandBase(single(nameWord)) ?? '')) {
    for (const word of tarRelocated(args, scope.cwd)) {
      const secret = protectedTarget(word, ctx, a.opts.protectedPaths);
      if (secret) {
        a.add('deny', 'deny.credentials', subject, false, `touches protected path ${secret}`);
        break;
      }
    }
  }
  const secretVar = words
    .flatMap((w) =>
      w.node
        ? [w.node, ...w.node.descendantsOfType(['simple_expansion', 'expansion']).filter((n): n is Node => n !== null)]
        : [],
    )
    .filter((n) => n.type === 'simple_expansion' || n.type === 'expansion')
    .map((n) => n.descendantsOfType('variable_name')[0]?.text ?? '')
    .find((v) => SECRET_NAME.test(v));
  if (secretVar) a.add('ask', 'ask.secret-variable', subject, true);
  if (
    !a.findings.some((f) => f.rule === 'deny.credentials') &&
    words.some((w) => CREDENTIAL_MARKER.test(w.values === null ? w.text : w.values.join(' ')))
  ) {
    a.add('ask', 'ask.credential-mention', subject, true);
  }
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

/**
 * An argument whose value is computed at run time (`cat "$(printf …)"`, `cp "$f" .`, `cat $x`
 * after `read x`) could name any file, a credential included; so could any path when the
 * working directory is unknown. Asked about (process substitutions `<(…)` are pipes, not paths).
 */
function unresolvedArguments(a: Analyzer, name: string, args: Word[], scope: Scope, subject: string): void {
  const computed = args.find(
    (w) =>
      w.values === null &&
      !/^[<>]\(/.test(w.text) &&
      (!w.assumeOutside || a.pipedFromOutside) &&
      !textNotPath(a, w, scope) &&
      !listsInside(a, w, scope),
  );
  if (computed) {
    a.add(
      'ask',
      'ask.unresolved-path',
      subject,
      true,
      `an argument is computed at run time (\`${oneLine(computed.text, 60)}\`), so the file it names is not known`,
    );
    return;
  }
  if (scope.cwd === null && name !== 'cd' && name !== 'pushd' && name !== 'popd')
    a.add('ask', 'ask.unresolved-path', subject, true, 'runs in a directory not known before it runs');
}

/**
 * `-m "Release $(date)"`, `--title=$(…)`: a computed word behind a literal prefix names a file only
 * through a directory whose name starts with that prefix. With no such entry in the working
 * directory (and none written earlier in this command) it is text, not a path.
 */
function textNotPath(a: Analyzer, word: Word, scope: Scope): boolean {
  const prefix = word.prefix;
  if (
    prefix === '' ||
    scope.cwd === null ||
    /[/~]/.test(prefix) ||
    prefix.startsWith('.') ||
    !isInside(scope.cwd, a.opts.sandboxRoot)
  )
    return false;
  const cwd = scope.cwd;
  const clashes = (entry: string): boolean => entry.startsWith(prefix) || prefix.startsWith(entry);
  if (
    writtenEarlier(a, cwd) ||
    a.written.some((w) => isInside(w, cwd) && clashes(posix.relative(cwd, w).split('/')[0] ?? ''))
  )
    return false;
  try {
    return !readdirSync(cwd).some(clashes);
  } catch {
    return false;
  }
}

/** The command as the rules see it; where its targets lie is worked out only if a rule asks. */
function ruleSubject(a: Analyzer, name: string, args: Word[], scope: Scope, targets: Word[]): SimpleCommand {
  let places: Set<GuardTarget | 'inside'> | undefined;
  return {
    name,
    args,
    targets: () => {
      places ??= new Set(targets.flatMap((t) => placesOf(t, a.pathContext(scope))));
      return places;
    },
  };
}

/** Built-in rules first, then guard.json rules; a user `allow` lifts liftable asks on this command. */
function applyRules(a: Analyzer, command: SimpleCommand, subject: string, start: number): void {
  let allowRule: string | null = null;
  for (const compiled of a.opts.rules) {
    if (!ruleMatches(compiled, command)) continue;
    const { rule } = compiled;
    if (rule.decision === 'allow') {
      if (compiled.fromUser) allowRule ??= rule.id;
      continue;
    }
    a.findings.push({
      decision: rule.decision,
      rule: rule.id,
      reason: `${rule.reason}: \`${oneLine(subject)}\``,
      liftable: true,
    });
  }
  if (allowRule === null) return;
  a.allowedBy.push(allowRule);
  for (let i = a.findings.length - 1; i >= start; i--) {
    const f = a.findings[i] as Finding;
    if (f.decision === 'ask' && f.liftable) a.findings.splice(i, 1);
  }
}
