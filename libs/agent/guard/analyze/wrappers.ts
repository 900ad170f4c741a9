import type { Analyzer } from '../analyze.ts';
import { PACKAGE_MANAGERS, genericOutputs, splitArgs } from '../commandFacts.ts';
import type { Unwrapped } from '../commandFacts.ts';
import { resolveFrom } from '../paths.ts';
import { literalWord, single } from '../words.ts';
import type { Word } from '../words.ts';
import { HISTORY_VARS, settingAssigned } from './assignments.ts';
import { codeString } from './codeRunners.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';
import type { StdinOf } from './stdin.ts';

/**
 * Commands that run another command: wrappers (`sudo`, `env`, `timeout`, `xargs`, … unwrapped by
 * commandFacts.ts), environment runners (`poetry run`, `bundle exec`) and package-manager exec
 * (`npm exec`, `pnpm dlx`). The command they run is judged like any other.
 */

/** Tools whose subcommand runs the command after it in an environment (a virtualenv, a bundle). */
const RUNNERS: Record<string, string[]> = {
  poetry: ['run'],
  pipenv: ['run'],
  uv: ['run'],
  pdm: ['run'],
  hatch: ['run'],
  rye: ['run'],
  conda: ['run'],
  mamba: ['run'],
  bundle: ['exec'],
  mise: ['exec', 'x'],
  asdf: ['exec'],
  direnv: ['exec'],
  devbox: ['run'],
  pixi: ['run'],
};

/** A wrapper's own settings (`env X=…`), then the command (or code, `env -S`) it runs. */
export function wrapped(
  a: Analyzer,
  name: string,
  args: Word[],
  unwrapped: Unwrapped,
  scope: Scope,
  depth: number,
  subject: string,
  stdin: StdinOf,
): void {
  for (const [variable, value] of unwrapped.assignments ?? []) {
    settingAssigned(a, variable, value, subject, scope, depth);
    if (HISTORY_VARS.has(variable) && (single(value) === null || ['/dev/null', '0'].includes(single(value) ?? '')))
      a.add('deny', 'deny.history-tampering', subject);
  }
  if (!unwrapped.words || unwrapped.words.length === 0) return;
  // `env -C DIR cmd`: the wrapped command runs in DIR.
  const inner = name === 'env' ? envChdir(args, scope) : scope;
  if (unwrapped.asScript) codeString(a, unwrapped.words, inner, depth, subject);
  else a.simple(unwrapped.words, inner, depth, subject, stdin);
}

function envChdir(args: Word[], scope: Scope): Scope {
  for (let i = 0; i < args.length; i++) {
    const text = single(args[i]);
    if (text === null) return scope;
    let dir: Word | undefined;
    if (text === '-C' || text === '--chdir') dir = args[i + 1];
    else if (text.startsWith('--chdir=')) dir = literalWord(text.slice('--chdir='.length));
    else if (/^-C./.test(text)) dir = literalWord(text.slice(2));
    else continue;
    const value = dir ? single(dir) : null;
    return { ...childScope(scope), cwd: value === null ? null : resolveFrom(scope.cwd, value) };
  }
  return scope;
}

/** What a wrapper itself writes: `time -o F`, `strace -o F`, `script F` (its typescript). */
export function wrapperOutputs(name: string, args: Word[], inner: Word[] | null): Word[] {
  const first = inner?.[0];
  const own = first ? args.slice(0, Math.max(0, args.indexOf(first))) : args;
  if (name === 'script') {
    const { operands, optionValues } = splitArgs('script', args);
    const logs = ['-T', '--log-timing', '-I', '-O', '-B', '--log-in', '--log-out', '--log-io'].flatMap(
      (k) => optionValues.get(k) ?? [],
    );
    return [...operands.slice(0, 1), ...logs];
  }
  return genericOutputs(own);
}

/** `poetry run X`, `uv run X`, `bundle exec X`, `direnv exec DIR X`: X is judged like any command. */
export function runnerCommand(
  a: Analyzer,
  name: string,
  args: Word[],
  scope: Scope,
  depth: number,
  subject: string,
  stdin: StdinOf,
): void {
  const runner = RUNNERS[name];
  if (!runner) return;
  const { operands } = splitArgs(name, args);
  const sub = single(operands[0]);
  if (sub === null || !runner.includes(sub)) return;
  let rest = args.slice(args.indexOf(operands[0] as Word) + 1);
  if (name === 'direnv') rest = rest.slice(1);
  while (rest.length > 0 && (single(rest[0]) ?? '').startsWith('-')) {
    const flag = single(rest[0]);
    rest = rest.slice(1);
    if (flag === '--') break;
  }
  if (rest.length > 0) a.simple(rest, scope, depth, subject, stdin);
  else a.add('ask', 'ask.shell-code-unknown', subject);
}

/** `npm exec -- rimraf /`, `pnpm dlx x`, `yarn exec x`, `npm exec -c 'code'`: judge what they run. */
export function packageManagerExec(
  a: Analyzer,
  name: string,
  args: Word[],
  scope: Scope,
  depth: number,
  subject: string,
  stdin: StdinOf,
): void {
  if (!PACKAGE_MANAGERS.has(name)) return;
  const { operands } = splitArgs(name, args);
  const sub = single(operands[0]);
  if (sub === null || !['exec', 'dlx', 'x'].includes(sub)) return;
  const rest = args.slice(args.indexOf(operands[0] as Word) + 1);
  // `npm exec -c 'code'`, `--call='code'`: shell code.
  const call = rest.findIndex((w) => /^(-c|--call)(=|$)/.test(single(w) ?? (w.prefix || '-')));
  if (call >= 0) {
    const flag = rest[call] as Word;
    const text = single(flag);
    const code = text !== null && text.includes('=') ? literalWord(text.slice(text.indexOf('=') + 1)) : rest[call + 1];
    if (code) codeString(a, [code], scope, depth, subject);
    else a.add('ask', 'ask.shell-code-unknown', subject);
  }
  const dashes = rest.findIndex((w) => single(w) === '--');
  const inner =
    dashes >= 0 ? rest.slice(dashes + 1) : rest.filter((w, i) => i > 0 || !(single(w) ?? '').startsWith('-'));
  if (inner.length > 0) a.simple(inner, scope, depth, subject, stdin);
}
