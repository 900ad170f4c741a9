import { posix } from 'node:path';
import type { Analyzer } from '../analyze.ts';
import { PACKAGE_MANAGERS, splitArgs } from '../commandFacts.ts';
import { isInside, resolveFrom } from '../paths.ts';
import { settingVarKind, settingsFileRisk } from '../programSettings.ts';
import { gitHookPaths, makeCode, packageScriptTexts } from '../projectCode.ts';
import { literalWord, single } from '../words.ts';
import type { Word } from '../words.ts';
import { settingAssigned } from './assignments.ts';
import { script } from './codeRunners.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';
import { writtenEarlier } from './written.ts';

/**
 * Code a project command runs that its words do not show: package.json scripts, make recipes and
 * git hooks (read by projectCode.ts), judged like the command line; and package-manager settings
 * that name a program.
 */
export function projectCode(
  a: Analyzer,
  name: string,
  args: Word[],
  scope: Scope,
  depth: number,
  subject: string,
): void {
  if (PACKAGE_MANAGERS.has(name)) {
    packageManagerSettings(a, args, scope, depth, subject);
    // `npm --prefix .. test`, `cd .. && npm test`: scripts of a package.json outside the sandbox.
    const { optionValues, operands } = splitArgs(name, args);
    const moved = ['--prefix', '-C', '--dir', '--cwd'].flatMap((k) => optionValues.get(k) ?? []);
    let dir = scope.cwd;
    for (const w of moved) dir = single(w) === null ? null : resolveFrom(dir, single(w) as string);
    const harmless = [
      '-v',
      '--version',
      'version',
      'help',
      'ls',
      'list',
      'view',
      'info',
      'outdated',
      'why',
      'config',
      'get',
      'root',
      'bin',
      'prefix',
    ];
    const sub = single(operands[0]) ?? (args.length === 0 ? 'install' : single(args[0]));
    if ((dir === null || !isInside(dir, a.opts.sandboxRoot)) && !harmless.includes(sub ?? '')) {
      a.add(
        'ask',
        'ask.unknown-script',
        subject,
        false,
        'runs package scripts outside the sandbox or in an unknown directory',
      );
    } else if (moved.length > 0 && dir !== null) {
      for (const text of packageScriptTexts(name, args, dir))
        a.analyzeSource(text, { ...childScope(scope), cwd: dir }, depth + 1);
    }
  }
  if (
    PACKAGE_MANAGERS.has(name) &&
    scope.cwd !== null &&
    ['package.json', '.npmrc'].some((f) => writtenEarlier(a, posix.join(scope.cwd as string, f)))
  ) {
    a.add('ask', 'ask.unknown-script', subject, false, 'runs package.json scripts that this command changes first');
  } else if (PACKAGE_MANAGERS.has(name) && scope.cwd !== null && isInside(scope.cwd, a.opts.sandboxRoot)) {
    for (const text of packageScriptTexts(name, args, scope.cwd)) a.analyzeSource(text, childScope(scope), depth + 1);
  }
  if (name === 'make' || name === 'gmake') {
    // `make SHELL=./x`, `make MAKEFLAGS=…`, `make --eval=…`: recipes run by another program, or make code given inline.
    for (const w of args) {
      const text = single(w);
      if (
        text === null ||
        /^((SHELL|\.SHELLFLAGS|MAKESHELL|MAKEFLAGS|MFLAGS|GNUMAKEFLAGS|MAKEFILES)\s*[:+?!]*=|--eval(=|$)|-E$)/.test(
          text,
        )
      ) {
        a.add(
          'ask',
          'ask.program-setting',
          subject,
          false,
          text === null
            ? 'make is given an argument not known before it runs'
            : 'make is told to run its recipes with another program or given make code',
        );
        break;
      }
    }
    if (
      scope.cwd !== null &&
      ['GNUmakefile', 'makefile', 'Makefile'].some((f) => writtenEarlier(a, posix.join(scope.cwd as string, f)))
    ) {
      a.add('ask', 'ask.unknown-script', subject, false, 'runs a makefile that this command changes first');
    }
    const plan = makeCode(name, args, scope.cwd, a.opts.sandboxRoot);
    if (plan && !plan.ok) a.add('ask', 'ask.unknown-script', subject, false, plan.reason);
    if (plan?.ok) {
      if (plan.customShell)
        a.add('ask', 'ask.unknown-script', subject, false, 'the makefile runs its recipes with another shell');
      for (const code of plan.codes) a.analyzeSource(code, { ...childScope(scope), cwd: plan.cwd }, depth + 1);
    }
  }
  if (name === 'git')
    for (const hook of gitHookPaths(args, scope.cwd)) script(a, literalWord(hook), scope, depth, subject, true);
}

/** `npm --script-shell=./x test`, an `.npmrc` naming a shell or node options: the program they name runs. */
export function packageManagerSettings(a: Analyzer, args: Word[], scope: Scope, depth: number, subject: string): void {
  for (let i = 0; i < args.length; i++) {
    const text = single(args[i]);
    if (text === null || !text.startsWith('--')) continue;
    const eq = text.indexOf('=');
    const key = (eq > 0 ? text.slice(2, eq) : text.slice(2)).replace(/-/g, '_');
    const kind = settingVarKind(`npm_config_${key}`);
    if (kind === 'injection')
      a.add('ask', 'ask.program-setting', subject, false, `a package-manager setting that loads other code (--${key})`);
    if (kind === 'program')
      settingAssigned(
        a,
        `npm_config_${key}`,
        eq > 0 ? literalWord(text.slice(eq + 1)) : (args[i + 1] ?? literalWord('')),
        subject,
        scope,
        depth,
      );
  }
  const dirs = new Set(
    [scope.cwd, a.opts.sandboxRoot].filter((d): d is string => d !== null && isInside(d, a.opts.sandboxRoot)),
  );
  for (const dir of dirs) {
    const risky = settingsFileRisk(posix.join(dir, '.npmrc'), 'npmrc');
    if (risky) {
      a.add(
        'ask',
        'ask.program-setting',
        subject,
        false,
        `the project's .npmrc names a program or other configuration (${risky})`,
      );
      return;
    }
  }
}
