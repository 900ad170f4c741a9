import { statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Analyzer } from '../analyze.ts';
import { DELETERS, hasFlag, interpreterKey, splitArgs, writeTargets } from '../commandFacts.ts';
import { isInside, placesOf, resolveFrom } from '../paths.ts';
import { RUNS_LATER } from '../programSettings.ts';
import { awkRuns, sedRunsOrWrites } from '../programText.ts';
import { single } from '../words.ts';
import type { Word } from '../words.ts';
import { interpreter } from './codeRunners.ts';
import { gitSettings } from './gitSettings.ts';
import { serviceChecks } from './services.ts';
import type { Scope } from './scope.ts';
import type { StdinOf } from './stdin.ts';

/** A variable whose name says it holds a secret: printing it puts the secret in the transcript. */
export const SECRET_NAME =
  /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL)|(^|_)AUTH(_|$)/i;
const RECURSIVE_READERS = new Set(['grep', 'egrep', 'rg', 'ag', 'tar', 'zip', 'cp', 'scp', 'rsync']);

/** Checks on one command's own words that no rule expresses. */
export function ownChecks(
  a: Analyzer,
  name: string,
  args: Word[],
  scope: Scope,
  subject: string,
  stdin: StdinOf,
): void {
  if ((name === 'sed' || name === 'gsed') && sedRunsOrWrites(args)) a.add('ask', 'ask.sed-exec', subject, true);
  if (/^[gmn]?awk$/.test(name) && awkRuns(args)) a.add('ask', 'ask.inline-code', subject, true);
  if (RECURSIVE_READERS.has(name)) recursiveRead(a, name, args, scope, subject);
  if (
    !DELETERS.has(name) &&
    writeTargets(name, args).some((t) => (t.values ?? [t.prefix]).some((v) => RUNS_LATER.test(v.replace(/\/+$/, ''))))
  )
    a.add('ask', 'ask.git-hooks', subject);
  if (name === 'git') gitSettings(a, args, scope, subject);
  serviceChecks(a, name, args, subject, stdin);
  if ((name === 'ed' || name === 'red' || name === 'ex') && stdin() !== null)
    a.add('ask', 'ask.inline-code', subject, true);
  if (
    name === 'sqlite3' &&
    args.some((w) =>
      /(^|[;\n])\s*\.(shell|system|sh|once|output|log|load|read|import|excel|save|backup|restore|open)\b|load_extension|\battach\b/i.test(
        w.values === null ? w.text : (single(w) ?? ''),
      ),
    )
  )
    a.add('ask', 'ask.inline-code', subject, true);
  if (name === 'kill' && args.some((w) => w.substitution)) a.add('ask', 'ask.kill-unknown', subject, true);
  if (name === 'printenv' && args.some((w) => SECRET_NAME.test(single(w) ?? '')))
    a.add('ask', 'ask.secret-variable', subject, true);
  if (name === 'ln') symlinkCheck(a, args, scope, subject);
  const key = interpreterKey(name);
  if (key) interpreter(a, key, args, subject, stdin, scope);
}

/** `grep -r x ~`, `tar czf out.tgz ~`, `cp -r ~ .`: a recursive read over a directory holding credentials. */
export function recursiveRead(a: Analyzer, name: string, args: Word[], scope: Scope, subject: string): void {
  const recursive =
    name === 'rg' ||
    name === 'ag' ||
    name === 'find' ||
    ((name === 'grep' || name === 'egrep' || name === 'zip' || name === 'cp' || name === 'scp') &&
      (hasFlag(args, '-r') || hasFlag(args, '-R') || hasFlag(args, '--recursive'))) ||
    (name === 'cp' && (hasFlag(args, '-a') || hasFlag(args, '--archive'))) ||
    name === 'tar' ||
    name === 'rsync';
  if (!recursive) return;
  const samples = a.opts.protectedPaths.samples;
  for (const word of args) {
    const value = single(word);
    if (value === null || value.startsWith('-')) continue;
    const path = resolveFrom(scope.cwd ?? a.opts.sandboxRoot, value);
    if (path === null || isInside(path, a.opts.sandboxRoot)) continue;
    const prefix = path === '/' ? '/' : `${path}/`;
    if (samples.some((sample) => sample.startsWith(prefix))) {
      a.add('ask', 'ask.recursive-read', subject, true);
      return;
    }
  }
}

/** A link to outside the sandbox turns later in-sandbox paths into outside ones. */
function symlinkCheck(a: Analyzer, args: Word[], scope: Scope, subject: string): void {
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
  const linkCtx = { ...a.pathContext(scope), cwd: linkDir };
  if (sources.some((w) => placesOf(w, linkCtx).some((p) => p !== 'inside')))
    a.add('ask', 'ask.symlink-outside', subject, true);
}
