import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Analyzer } from '../analyze.ts';
import { INTERPRETERS, SHELLS, splitArgs } from '../commandFacts.ts';
import { isInside, resolveFrom } from '../paths.ts';
import { MAX_SCRIPT_BYTES } from '../projectCode.ts';
import { literalWord, single } from '../words.ts';
import type { Word } from '../words.ts';
import { fetches, listsInside } from './expansions.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';
import type { StdinOf } from './stdin.ts';
import { writtenEarlier } from './written.ts';

/**
 * Code handed to a shell or an interpreter: `bash -c` strings, eval'd words, scripts on disk,
 * a shell's startup files, and interpreters given code inline or on stdin.
 */

/** Words joined and run as shell code (eval, `bash -c`, watch, `env -S`). */
export function codeString(a: Analyzer, words: Word[], scope: Scope, depth: number, subject: string): void {
  if (words.some((w) => w.substitution && w.values === null)) {
    // The code is computed at run time; the substitutions themselves were walked already.
    a.add('ask', 'ask.shell-code-unknown', subject);
    return;
  }
  const values = words.map((w) => single(w));
  if (values.some((v) => v === null)) {
    a.add('ask', 'ask.shell-code-unknown', subject);
    return;
  }
  a.analyzeSource(values.join(' '), childScope(scope), depth + 1);
}

/** `bash [options] [-c code | script | -s]`: the code it runs, from its arguments, a file or stdin. */
export function shell(a: Analyzer, args: Word[], scope: Scope, depth: number, subject: string, stdinOf: StdinOf): void {
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
  startupFiles(a, options, scope, depth, subject);
  const hasC = options.some((o) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(o));
  if (hasC) {
    const code = operands[0];
    if (!code) return;
    codeString(a, [code], scope, depth, subject);
    return;
  }
  const file = operands[0];
  const fromStdin = !file || single(file) === '-' || options.some((o) => /^-[a-zA-Z]*s/.test(o));
  if (!fromStdin && file) {
    script(a, file, scope, depth, subject, false);
    return;
  }
  const stdin = stdinOf();
  if (!stdin) return; // interactive, or fed by a pipe (judged by the pipeline)
  if (stdin.kind === 'text') a.analyzeSource(stdin.text, childScope(scope), depth + 1);
  else if (stdin.kind === 'word') codeString(a, [stdin.word], scope, depth, subject);
  else script(a, stdin.word, scope, depth, subject, false);
}

/**
 * `bash -lc`, `bash -i`: a login or interactive shell first runs startup files from HOME (the
 * agent's HOME is the sandbox root) — judged like scripts; `--rcfile F` names one.
 */
function startupFiles(a: Analyzer, options: string[], scope: Scope, depth: number, subject: string): void {
  const login = options.some((o) => o === '--login' || /^-[a-zA-Z]*l[a-zA-Z]*$/.test(o));
  const interactive = options.some((o) => /^-[a-zA-Z]*i[a-zA-Z]*$/.test(o));
  if (options.some((o) => /^--(rcfile|init-file)/.test(o)))
    a.add('ask', 'ask.unknown-script', subject, false, 'the shell first runs a startup file it is given');
  const files = [...(login ? ['.bash_profile', '.bash_login', '.profile'] : []), ...(interactive ? ['.bashrc'] : [])];
  for (const home of new Set([a.opts.sandboxRoot, a.opts.home])) {
    for (const file of files) {
      const path = posix.join(home, file);
      try {
        if (!statSync(path).isFile()) continue;
      } catch {
        continue;
      }
      script(a, literalWord(path), scope, depth, subject, false);
    }
  }
}

/** `python3 -c`, `node -e`, `perl -e`, code on stdin, or a script whose name is computed. */
export function interpreter(
  a: Analyzer,
  key: string,
  args: Word[],
  subject: string,
  stdinOf: StdinOf,
  scope: Scope,
): void {
  const inline = INTERPRETERS[key] ?? [];
  const texts = args.map((w) => single(w) ?? '');
  const inlineFlag = texts.some(
    (t) =>
      inline.includes(t) ||
      inline.some((f) => f.length === 2 && t.startsWith(f) && t.length > 2 && !t.startsWith('--')) ||
      // `python3 -Ic 'code'`, `node -pe 'code'`: the flag inside a bundle of short options.
      inline.some((f) => f.length === 2 && new RegExp(`^-[A-Za-z]*${f[1]}[A-Za-z]*$`).test(t)) ||
      inline.some((f) => f.startsWith('-') && f.length > 2 && t.startsWith(`${f}=`)) ||
      // `node --import data:text/javascript,…`: module text given inline.
      (/^(-r|--require|--import|--loader|--experimental-loader)(=|$)/.test(t) &&
        texts.some((v) => /^(data|https?):/.test(v))) ||
      ((key === 'perl' || key === 'ruby') && /^-[a-zA-Z]*[eE][a-zA-Z]*$/.test(t)),
  );
  if (inlineFlag || (key === 'deno' && texts[0] === 'eval')) {
    a.add('ask', 'ask.inline-code', subject, true);
    return;
  }
  const { operands } = splitArgs(key, args);
  const fromStdin = operands.length === 0 || single(operands[0]) === '-';
  const stdin = fromStdin ? stdinOf() : null;
  if (stdin && stdin.kind !== 'file') a.add('ask', 'ask.inline-code', subject, true);
  const file = operands[0];
  if (file && file.values === null && file.substitution && !listsInside(a, file, scope))
    a.add('ask', 'ask.unknown-script', subject);
}

/**
 * A script run by a shell, sourced, or executed by path. Inside the sandbox and already on disk:
 * a shell script's text is parsed and judged like the command line; other files (binaries,
 * Python, Node) are allowed (the sandbox is the backstop). Missing or outside: ask.
 * Returns the shell text judged, or null when none was (asked about, or not shell).
 */
export function script(
  a: Analyzer,
  word: Word,
  scope: Scope,
  depth: number,
  subject: string,
  executed: boolean,
  askRule = 'ask.unknown-script',
): string | null {
  if (fetches(word, scope)) {
    a.add('deny', 'deny.download-exec', subject);
    return null;
  }
  const value = single(word);
  if (value === null) {
    a.add('ask', askRule, subject);
    return null;
  }
  const path = resolveFrom(scope.cwd, value);
  if (path === null || !isInside(path, a.opts.sandboxRoot)) {
    a.add('ask', askRule, subject);
    return null;
  }
  if (writtenEarlier(a, path)) {
    a.add('ask', askRule, subject, false, 'runs a script that this command writes first, so its text is not known');
    return null;
  }
  let text: string;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) {
      if (!a.opts.isolated)
        a.add(
          'ask',
          'ask.not-isolated',
          subject,
          true,
          'runs a file that is not a script the guard can read, and no OS sandbox holds it',
        );
      return null;
    }
    if (stat.size > MAX_SCRIPT_BYTES) {
      a.add('ask', askRule, subject);
      return null;
    }
    text = readFileSync(path, 'utf8');
  } catch {
    a.add('ask', askRule, subject);
    return null;
  }
  const unreadable = (): null => {
    // A binary or a program for another interpreter: only the OS sandbox can hold it.
    if (!a.opts.isolated)
      a.add(
        'ask',
        'ask.not-isolated',
        subject,
        true,
        'runs a binary or a non-shell script, and no OS sandbox holds it',
      );
    return null;
  };
  if (text.includes('\u0000')) return unreadable();
  const shebang = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(text);
  if (executed && shebang) {
    const interp = posix.basename(shebang[1] ?? '');
    const real = interp === 'env' ? (shebang[2] ?? '') : interp;
    if (!SHELLS.has(real)) return unreadable();
  }
  a.analyzeSource(text, a.freshScope(scope.cwd), depth + 1);
  return text;
}
