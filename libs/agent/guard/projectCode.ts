import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { splitArgs } from './commandFacts.ts';
import { planMake } from './makefile.ts';
import { isInside, resolveFrom } from './paths.ts';
import { single } from './words.ts';
import type { Word } from './words.ts';

/**
 * Code a command runs from the project's own files: package.json scripts, make recipes and git
 * hooks. Each function returns the shell text for the guard to judge (or why it cannot).
 */

export const MAX_SCRIPT_BYTES = 1_000_000;

const LIFECYCLE_INSTALL = [
  'preinstall',
  'install',
  'postinstall',
  'prepublish',
  'preprepare',
  'prepare',
  'postprepare',
];
/** pnpm/yarn/bun commands that are not package.json scripts. */
const PM_BUILTINS = new Set([
  'install',
  'i',
  'add',
  'remove',
  'rm',
  'up',
  'update',
  'upgrade',
  'outdated',
  'list',
  'ls',
  'why',
  'audit',
  'exec',
  'dlx',
  'x',
  'create',
  'init',
  'link',
  'unlink',
  'publish',
  'pack',
  'store',
  'config',
  'info',
  'view',
  'global',
  'cache',
  'workspace',
  'workspaces',
  'import',
  'fetch',
  'prune',
  'rebuild',
  'patch',
  'licenses',
  'bin',
  'root',
  'env',
  'setup',
  'help',
  'version',
  'dedupe',
]);

/** `npm test`, `npm run build`, `pnpm lint`, `npm ci`: the package.json scripts run, with pre/post and install lifecycle scripts. */
export function packageScriptTexts(manager: string, args: Word[], cwd: string): string[] {
  const operands = args.map((a) => single(a)).filter((v): v is string => v !== null && !v.startsWith('-'));
  const [first, second] = operands;
  let names: string[] = [];
  if (first === undefined) names = manager === 'yarn' ? LIFECYCLE_INSTALL : [];
  else if (['run', 'run-script', 'rr'].includes(first)) names = second ? [second] : [];
  else if (['test', 't', 'tst'].includes(first)) names = ['test'];
  else if (['start', 'stop', 'restart'].includes(first)) names = [first];
  else if (['install', 'i', 'ci', 'add'].includes(first) && operands.length === 1) names = LIFECYCLE_INSTALL;
  else if (manager !== 'npm' && !PM_BUILTINS.has(first)) names = [first];
  if (names.length === 0) return [];
  let scripts: Record<string, unknown>;
  try {
    const pkg = JSON.parse(readFileSync(posix.join(cwd, 'package.json'), 'utf8')) as {
      scripts?: Record<string, unknown>;
    };
    scripts = pkg.scripts ?? {};
  } catch {
    return []; // no package.json: the package manager fails on its own
  }
  return names
    .flatMap((n) => (LIFECYCLE_INSTALL.includes(n) ? [n] : [`pre${n}`, n, `post${n}`]))
    .map((s) => scripts[s])
    .filter((t): t is string => typeof t === 'string');
}

export type MakeCode =
  { ok: true; cwd: string; codes: string[]; customShell: boolean } | { ok: false; reason: string } | null;

/** `make [-C dir] [-f file] [VAR=x] [goal]`: the recipes it would run; null when there is no makefile. */
export function makeCode(name: string, args: Word[], cwd: string | null, sandboxRoot: string): MakeCode {
  const { operands, optionValues } = splitArgs(name, args);
  const option = (...keys: string[]): Word | undefined => keys.flatMap((k) => optionValues.get(k) ?? []).at(-1);
  const dirWord = option('-C', '--directory');
  const dirValue = dirWord ? single(dirWord) : '.';
  const dir = dirValue === null ? null : resolveFrom(cwd, dirValue);
  if (dir === null || !isInside(dir, sandboxRoot))
    return { ok: false, reason: 'runs a makefile outside the sandbox or in an unknown directory' };
  const fileWord = option('-f', '--file', '--makefile');
  const candidates = fileWord ? [single(fileWord)] : ['GNUmakefile', 'makefile', 'Makefile'];
  const overrides: Record<string, string> = {};
  const goals: string[] = [];
  for (const operand of operands) {
    const value = single(operand);
    if (value === null) continue;
    const m = /^([A-Za-z_.][A-Za-z0-9_.-]*)[:?+]?=(.*)$/s.exec(value);
    if (m) overrides[m[1] ?? ''] = m[2] ?? '';
    else goals.push(value);
  }
  for (const candidate of candidates) {
    const path = candidate === null ? null : resolveFrom(dir, candidate);
    if (path === null || !isInside(path, sandboxRoot))
      return { ok: false, reason: 'runs a makefile outside the sandbox or an unknown one' };
    let text: string;
    try {
      if (statSync(path).size > MAX_SCRIPT_BYTES) return { ok: false, reason: 'the makefile is too large to judge' };
      text = readFileSync(path, 'utf8');
    } catch {
      if (fileWord) return { ok: false, reason: 'runs a makefile that does not exist yet' };
      continue;
    }
    const plan = planMake(text, goals, overrides);
    return { ok: true, cwd: dir, codes: [...plan.shells, ...plan.commands], customShell: plan.customShell };
  }
  return null;
}

/** git subcommands and the hooks they run. */
const GIT_HOOKS: Record<string, string[]> = {
  commit: ['pre-commit', 'prepare-commit-msg', 'commit-msg', 'post-commit'],
  push: ['pre-push'],
  merge: ['pre-merge-commit', 'post-merge'],
  pull: ['post-merge', 'post-checkout'],
  checkout: ['post-checkout'],
  switch: ['post-checkout'],
  rebase: ['pre-rebase', 'post-rewrite'],
  am: ['applypatch-msg', 'pre-applypatch', 'post-applypatch'],
};

/** The hook files (that exist) a git command would run. */
export function gitHookPaths(args: Word[], cwd: string | null): string[] {
  const sub = single(splitArgs('git', args).operands[0]);
  const hooks = sub ? GIT_HOOKS[sub] : undefined;
  if (!hooks || cwd === null) return [];
  return hooks
    .map((hook) => posix.join(cwd, '.git', 'hooks', hook))
    .filter((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    });
}
