import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import {
  DECODERS,
  FETCHERS,
  INTERPRETERS,
  SHELLS,
  commandBase,
  interpreterKey,
  splitArgs,
  unwrap,
} from '../commandFacts.ts';
import { placesOf } from '../paths.ts';
import type { Dialect } from '../serviceClients.ts';
import { single } from '../words.ts';
import { commandWords } from './expansions.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';
import { judgeServiceText, stdinDialect } from './services.ts';
import { heredocText } from './stdin.ts';

/**
 * Pipelines: each stage runs in a subshell, and a stage that runs its stdin as code (`| sh`,
 * `| python3`, `tee >(sh)`) runs what the stages before it write.
 */

/** `a | b | c`; `producerBefore` is a statement feeding the first stage (`cat <<EOF | sh`). */
export function pipeline(a: Analyzer, node: Node, scope: Scope, depth: number, producerBefore?: Node): void {
  const stages = node.namedChildren.filter((c): c is Node => c !== null);
  const all = producerBefore ? [producerBefore, ...stages] : stages;
  for (let i = 1; i < all.length; i++) {
    const stage = all[i] as Node;
    const consumer = stdinConsumer(a, stage, scope);
    if (!consumer) continue;
    pipedCode(a, all.slice(0, i), consumer, stage, scope, depth);
  }
  // `find .. -name x | xargs cat`: names read from outside the sandbox are computed paths.
  let fedFromOutside = false;
  for (const stage of stages) {
    const before = a.pipedFromOutside;
    a.pipedFromOutside = fedFromOutside;
    // Each stage of a pipeline runs in a subshell: `x=build | true` changes nothing here.
    a.walk(stage, stages.length > 1 ? childScope(scope) : scope, depth);
    a.pipedFromOutside = before;
    fedFromOutside ||= namesOutside(a, stage, scope);
  }
}

/** `tee >(sh)`: a shell in an output process substitution runs what the command writes. */
export function processSubstitution(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  if (node.text.startsWith('>(') && stdinConsumer(a, node, scope)) a.add('ask', 'ask.shell-code-unknown', node.text);
  a.walkChildren(node, childScope(scope), depth);
}

/** Does a pipeline stage name paths outside the sandbox (or unknown ones) in its arguments? */
function namesOutside(a: Analyzer, stage: Node, scope: Scope): boolean {
  const commands =
    stage.type === 'command' ? [stage] : stage.descendantsOfType('command').filter((c): c is Node => c !== null);
  const ctx = a.pathContext(scope);
  return commands.some((command) =>
    commandWords(a, command, scope)
      .slice(1)
      .some((w) => {
        const text = single(w);
        if (text !== null && text.startsWith('-')) return false;
        return placesOf(w, ctx).some((p) => p === 'outside' || p === 'unresolved');
      }),
  );
}

/** What reads a pipeline stage's stdin as code or statements: a shell, an interpreter, a database client. */
type Consumer = 'shell' | 'interpreter' | { dialect: Dialect };

/** Does this pipeline stage run its stdin as code (or statements)? */
function stdinConsumer(a: Analyzer, stage: Node, scope: Scope): Consumer | null {
  const commands =
    stage.type === 'command' ? [stage] : stage.descendantsOfType('command').filter((c): c is Node => c !== null);
  for (const command of commands) {
    let words = commandWords(a, command, scope);
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
        const hasC = args.some((w) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(single(w) ?? ''));
        const hasS = args.some((w) => /^-[a-zA-Z]*s[a-zA-Z]*$/.test(single(w) ?? ''));
        if (!hasC && (hasS || operands.length === 0 || ['-', '/dev/stdin'].includes(single(operands[0]) ?? '')))
          return 'shell';
      }
      if (
        (name === 'source' || name === '.') &&
        ['/dev/stdin', '-', '/proc/self/fd/0', '/dev/fd/0'].includes(single(args[0]) ?? '')
      )
        return 'shell';
      if (name === 'eval' || name === 'at' || name === 'batch') return 'shell';
      const key = interpreterKey(name);
      if (key) {
        const inline = INTERPRETERS[key] ?? [];
        const { operands } = splitArgs(key, args);
        if (
          !args.some((w) => inline.includes(single(w) ?? '')) &&
          (operands.length === 0 || single(operands[0]) === '-')
        )
          return 'interpreter';
      }
      const dialect = stdinDialect(name, args);
      if (dialect) return { dialect };
      break;
    }
  }
  return null;
}

/** What the producers write runs as code: downloaded text is denied, known text judged, the rest asked about. */
function pipedCode(a: Analyzer, producers: Node[], consumer: Consumer, stage: Node, scope: Scope, depth: number): void {
  const names = new Set<string>();
  let networkRedirect = false;
  for (const producer of producers) {
    const commands = producer.type === 'command' ? [producer] : [];
    commands.push(...producer.descendantsOfType('command').filter((c): c is Node => c !== null));
    for (const command of commands) {
      let words = commandWords(a, command, scope);
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
    a.add('deny', 'deny.download-exec', subject);
    return;
  }
  if (consumer === 'interpreter') {
    a.add('ask', 'ask.inline-code', subject, true);
    return;
  }
  const text = producers.length === 1 ? producedText(a, producers[0] as Node, scope) : null;
  if (typeof consumer === 'object') {
    // `echo 'DROP TABLE t' | psql`: known statements are judged; a dump or a file piped in is not known.
    // (`cat <<EOF | psql` with `$X` in it is filled in at run time; an echo's `$` may be literal, asking is the safe side.)
    if (text !== null && !/\$[A-Za-z_{(]|`/.test(text)) judgeServiceText(a, consumer.dialect, text, subject);
    else
      a.add(
        'ask',
        'ask.service-input-unknown',
        subject,
        true,
        'a database client runs statements piped from another command',
      );
    return;
  }
  if (text !== null) {
    a.analyzeSource(text, childScope(scope), depth + 1);
    return;
  }
  if ([...names].some((n) => DECODERS.has(n))) a.add('ask', 'ask.decode-exec', subject);
  else a.add('ask', 'ask.shell-code-unknown', subject);
}

/** The exact text a producer writes, when it is a literal echo/printf or `cat <<EOF`. */
function producedText(a: Analyzer, producer: Node, scope: Scope): string | null {
  if (producer.type === 'redirected_statement') {
    const body = producer.childForFieldName('body');
    const heredoc = producer.namedChildren.find((c) => c?.type === 'heredoc_redirect');
    if (
      body?.type === 'command' &&
      heredoc &&
      commandWords(a, body, scope).length === 1 &&
      single(commandWords(a, body, scope)[0]) === 'cat'
    ) {
      return heredocText(heredoc);
    }
    return null;
  }
  if (producer.type !== 'command') return null;
  const words = commandWords(a, producer, scope);
  const name = single(words[0]);
  const args = words.slice(1);
  if (args.some((w) => single(w) === null)) return null;
  const values = args.map((w) => single(w) ?? '');
  if (name === 'echo') {
    const flags = values.filter((v, i) => i < values.length && /^-[neE]+$/.test(v));
    const rest = values.slice(flags.length);
    if (flags.some((f) => f.includes('e')) && rest.some((v) => v.includes('\\'))) return null;
    return rest.join(' ');
  }
  if (name === 'printf' && values.length === 1 && !/[\\%]/.test(values[0] ?? '')) return values[0] ?? '';
  return null;
}
