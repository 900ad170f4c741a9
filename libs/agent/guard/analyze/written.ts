import { posix } from 'node:path';
import type { Analyzer } from '../analyze.ts';
import { PACKAGE_MANAGERS, subcommandOf } from '../commandFacts.ts';
import { isInside, resolveFrom } from '../paths.ts';
import type { Word } from '../words.ts';
import type { Scope } from './scope.ts';

/**
 * What commands earlier in the command line write (`Analyzer.written`): a script, package.json or
 * makefile among those paths is run later with text the guard cannot read now.
 */

export function noteWritten(a: Analyzer, words: Word[], cwd: string | null): void {
  for (const word of words) {
    if (word.values === null || word.glob || cwd === null) {
      const prefix = word.values === null ? word.prefix : '';
      a.written.push(prefix.startsWith('/') ? posix.dirname(`${prefix}x`) : (cwd ?? '/'));
      continue;
    }
    for (const v of word.values) {
      const path = resolveFrom(cwd, v);
      if (path !== null) a.written.push(path);
    }
  }
}

/** Commands that rewrite the working tree (or package.json) without naming files. */
export function noteTreeChanges(a: Analyzer, name: string, args: Word[], scope: Scope): void {
  if (scope.cwd === null) return;
  const sub = subcommandOf(name, args);
  if (
    name === 'git' &&
    sub !== null &&
    [
      'checkout',
      'restore',
      'switch',
      'apply',
      'am',
      'pull',
      'merge',
      'reset',
      'stash',
      'cherry-pick',
      'rebase',
      'revert',
      'submodule',
      'read-tree',
      'checkout-index',
    ].includes(sub)
  ) {
    a.written.push(scope.cwd);
  }
  if (name === 'patch') a.written.push(scope.cwd);
  if (PACKAGE_MANAGERS.has(name) && (sub === 'pkg' || sub === 'set-script'))
    a.written.push(posix.join(scope.cwd, 'package.json'));
}

export function writtenEarlier(a: Analyzer, path: string): boolean {
  return a.written.some((w) => isInside(path, w));
}
