import type { Analyzer } from '../analyze.ts';
import { hasFlag, splitArgs } from '../commandFacts.ts';
import { resolveFrom } from '../paths.ts';
import { single } from '../words.ts';
import type { Word } from '../words.ts';
import { assigningBuiltin } from './assignments.ts';
import { codeString, script } from './codeRunners.ts';
import { forgetChangesOf } from './functions.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';
import { NO_STDIN } from './stdin.ts';

/**
 * Shell builtins that change how the rest is read: `cd`, `eval`, `source`, `exec`, `alias`,
 * `trap`, `hash -p`, and the ones that assign variables. True when fully handled.
 */
export function builtin(
  a: Analyzer,
  name: string,
  args: Word[],
  scope: Scope,
  depth: number,
  subject: string,
): boolean {
  switch (name) {
    case 'cd':
    case 'pushd': {
      const target = args.find((w) => !(single(w) ?? '').startsWith('-') || single(w) === '-');
      if (!target) {
        // `cd` alone goes to $HOME, which the command may have set.
        const home = scope.vars.has('HOME') ? (scope.vars.get('HOME') ?? null) : [a.opts.home];
        if (name === 'cd') scope.cwd = home?.length === 1 ? (home[0] ?? null) : null;
      } else {
        const value = single(target);
        scope.cwd = value === null || /^[-+]\d*$/.test(value) ? null : resolveFrom(scope.cwd, value);
      }
      return true;
    }
    case 'popd':
      scope.cwd = null;
      return true;
    case 'eval':
      a.add('ask', 'ask.eval', subject);
      codeString(a, args, scope, depth, subject);
      return true;
    case 'source':
    case '.': {
      const file = args[0];
      if (!file) return true;
      if (file.substitution && file.values === null) {
        a.add('ask', 'ask.source-outside', subject);
        return true;
      }
      const text = script(a, file, scope, depth, subject, false, 'ask.source-outside');
      if (text !== null) forgetChangesOf(text, scope);
      return true;
    }
    case 'exec': {
      const rest = splitArgs('exec', args);
      if (rest.operands.length === 0) return true;
      a.add('ask', 'ask.exec', subject);
      const start = args.indexOf(rest.operands[0] as Word);
      a.simple(args.slice(start), scope, depth, subject, NO_STDIN);
      return true;
    }
    case 'alias':
      if (!args.some((w) => (single(w) ?? '=').includes('='))) return true; // listing aliases
      a.add('ask', 'ask.alias', subject);
      for (const w of args) {
        const value = single(w);
        const eq = value?.indexOf('=') ?? -1;
        if (value && eq > 0) a.analyzeSource(value.slice(eq + 1), childScope(scope), depth + 1);
      }
      return true;
    case 'read':
    case 'mapfile':
    case 'readarray':
    case 'printf':
    case 'getopts':
    case 'wait':
      assigningBuiltin(a, name, args, scope, depth, subject);
      return false;
    case 'enable':
    case 'hash':
    case 'fc':
      // `enable -f lib.so x` loads a builtin from a file; `hash -p ./evil ls` makes `ls` run it; `fc` re-runs history.
      if (name !== 'hash' || hasFlag(args, '-p')) {
        if (args.length > 0 || name === 'fc')
          a.add('ask', 'ask.shell-code-unknown', subject, false, 'changes what a command name runs, or runs history');
      }
      return true;
    case 'trap': {
      // `trap 'code' EXIT`: the first operand is code run later.
      const code = args.find((w) => !(single(w) ?? '').startsWith('-'));
      if (code) {
        codeString(a, [code], scope, depth, subject);
        // A DEBUG or RETURN trap runs before later commands, in this shell.
        forgetChangesOf(single(code) ?? 'cd', scope);
      }
      return true;
    }
    default:
      return false;
  }
}
