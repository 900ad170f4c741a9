import type { Node } from 'web-tree-sitter';
import type { Analyzer } from '../analyze.ts';
import { settingVarKind } from '../programSettings.ts';
import { evalWord, literalWord, single, unknownWord } from '../words.ts';
import type { Word } from '../words.ts';
import { codeString } from './codeRunners.ts';
import { fetches } from './expansions.ts';
import { childScope } from './scope.ts';
import type { Scope } from './scope.ts';

/**
 * Variables: `x=…`, `declare`/`export`, `unset`, `${x:=…}`, and builtins that assign (`read`,
 * `printf -v`, `mapfile`). The scope keeps what each may hold; a variable naming a program or
 * changing how programs load code is judged when it is set.
 */

/** Shell history settings: pointing them at nothing hides what ran. */
export const HISTORY_VARS = new Set(['HISTFILE', 'HISTSIZE', 'HISTFILESIZE', 'HISTCONTROL', 'HISTIGNORE', 'SAVEHIST']);
/** Indirect expansion `${!x}` (but not `${!x[@]}`/`${!prefix*}`, which list names or keys). */
const INDIRECT_EXPANSION = /^\$\{!(?![A-Za-z_][A-Za-z0-9_]*(\[[@*]\]|[@*])\}$)/;

/** `x=v` (persisting), or `x=v cmd` (only for cmd: `persist` false). */
export function assignment(a: Analyzer, node: Node, scope: Scope, depth: number, persist: boolean): void {
  const nameNode = node.childForFieldName('name');
  const name = nameNode?.text ?? '';
  const value = node.childForFieldName('value');
  if (value) a.walk(value, scope, depth);
  let word = value ? valueWord(a, value, scope) : literalWord('');
  // `p=/et; p+=c`: appending to what the variable held.
  if (node.children.some((c) => c !== null && !c.isNamed && c.text === '+=')) {
    const before = scope.vars.get(name);
    word =
      before && word.values && !word.glob
        ? { ...word, values: before.flatMap((b) => (word.values ?? []).map((v) => b + v)).slice(0, 64) }
        : { ...word, values: null, prefix: '' };
  }
  if (nameNode && nameNode.type !== 'variable_name') {
    // `a[$i]=x`, `a[1]=x`: an element of an array; the array's values are no longer known.
    const base = /^[A-Za-z_][A-Za-z0-9_]*/.exec(name)?.[0] ?? '';
    if (persist) scope.vars.set(base, null);
    settingAssigned(a, base, unknownWord(node.text), node.text, scope, depth);
    return;
  }
  if (HISTORY_VARS.has(name)) {
    const v = single(word);
    if (
      v === null ||
      v === '/dev/null' ||
      v === '0' ||
      name === 'HISTIGNORE' ||
      (name === 'HISTCONTROL' && /ignore/.test(v))
    ) {
      a.add('deny', 'deny.history-tampering', node.text);
    }
  }
  settingAssigned(a, name, word, node.text, scope, depth);
  if (fetches(word, scope)) scope.fetched.add(name);
  if (persist) scope.vars.set(name, word.glob ? null : word.values);
}

/** An assignment's value; an array `(a b c)` holds each of its elements' values. */
function valueWord(a: Analyzer, value: Node, scope: Scope): Word {
  if (value.type !== 'array') return evalWord(value, a.wordEnv(scope));
  const values: string[] = [];
  for (const element of value.namedChildren) {
    if (!element) continue;
    const word = evalWord(element, a.wordEnv(scope));
    // `([k]=v)`: an associative or indexed element; which one is read later is not followed.
    if (word.values === null || word.glob || element.text.startsWith('['))
      return { ...word, values: null, prefix: '', text: value.text, node: value };
    values.push(...word.values);
  }
  return { values: values.slice(0, 64), glob: false, prefix: '', substitution: false, text: value.text, node: value };
}

/**
 * A variable that names a program (`EDITOR`, `GIT_PAGER`, `npm_config_script_shell`) runs its
 * value: a known value is judged as the shell code it is, an unknown one is asked about. One that
 * makes programs load code or other configuration (`LD_PRELOAD`, `GIT_CONFIG_*`, `MAKEFLAGS`)
 * is asked about, and so is `PATH`: later names could run files the agent wrote, which the guard
 * would judge as the program they are named after.
 */
export function settingAssigned(
  a: Analyzer,
  name: string,
  word: Word,
  subject: string,
  scope: Scope,
  depth: number,
): void {
  const kind = settingVarKind(name);
  if (kind === 'injection') a.add('ask', 'ask.code-injection-env', subject);
  else if (kind === 'program') {
    const value = single(word);
    if (value === null)
      a.add(
        'ask',
        'ask.code-injection-env',
        subject,
        false,
        'sets a variable naming a program to a value not known before it runs',
      );
    // A pager reads the program's output on stdin: judged as `… | PAGER` (a shell there runs it).
    else if (value.trim() !== '')
      a.analyzeSource(/PAGER$/i.test(name) ? `: | ${value}` : value, childScope(scope), depth + 1);
  } else if (name === 'PATH') {
    a.add(
      'ask',
      'ask.code-injection-env',
      subject,
      false,
      'changes PATH, so later names may run files the guard has not read',
    );
  }
}

/** `declare`/`typeset`/`local`/`export`/`readonly`: assignments, namerefs and computed names. */
export function declaration(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  const keyword = node.child(0)?.text ?? '';
  const named = node.namedChildren.filter((c): c is Node => c !== null);
  // `declare -n r=x`: r stands for the variable x names. Which one is not followed: ask.
  const nameref = keyword !== 'export' && named.some((c) => c.type === 'word' && /^-[A-Za-z]*n/.test(c.text));
  if (nameref) a.add('ask', 'ask.indirect-variable', node.text);
  for (const child of named) {
    if (child.type === 'variable_assignment') {
      assignment(a, child, scope, depth, true);
      if (nameref) scope.vars.set(child.childForFieldName('name')?.text ?? '', null);
      continue;
    }
    if (child.type === 'word' && child.text.startsWith('-')) continue;
    if (child.type === 'word' || child.type === 'variable_name') {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(child.text)) {
        if (nameref) scope.vars.set(child.text, null);
        continue;
      }
    }
    // `export "$n=x"`, `declare $n=x`: the name assigned is computed at run time.
    a.add('ask', 'ask.indirect-variable', node.text, false, 'assigns a variable whose name is computed at run time');
    a.walk(child, scope, depth);
  }
}

/** `unset x`: x no longer holds what it did (`${x:-/etc}` then takes the default). */
export function unset(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  for (const child of node.namedChildren) {
    if (child && HISTORY_VARS.has(child.text)) a.add('deny', 'deny.history-tampering', node.text);
    if (child?.type === 'variable_name') scope.vars.delete(child.text);
    else if (child && child.type !== 'word')
      a.add('ask', 'ask.indirect-variable', node.text, false, 'unsets a variable whose name is computed at run time');
  }
  a.walkChildren(node, scope, depth);
}

/** `${…}`: an indirect `${!x}` is asked about; `${x:=v}` assigns. */
export function expansion(a: Analyzer, node: Node, scope: Scope, depth: number): void {
  // `${!x}`: the value of the variable whose name x holds, not known before it runs.
  if (INDIRECT_EXPANSION.test(node.text)) a.add('ask', 'ask.indirect-variable', node.text);
  // `${EDITOR:=./x}` assigns when the variable is unset or empty.
  const assigned = /^\$\{([A-Za-z_][A-Za-z0-9_]*):?=/.exec(node.text)?.[1];
  if (assigned) {
    if (!scope.vars.get(assigned)) scope.vars.set(assigned, null);
    settingAssigned(a, assigned, unknownWord(node.text), node.text, scope, depth);
  }
  a.walkChildren(node, scope, depth);
}

/** `read x`, `printf -v x`, `mapfile a`: the variables they set hold values unknown before the command runs. */
export function assigningBuiltin(
  a: Analyzer,
  name: string,
  args: Word[],
  scope: Scope,
  depth: number,
  subject: string,
): void {
  const names: Word[] = [];
  const valueOptions: Record<string, string[]> = {
    read: ['-a', '-d', '-i', '-n', '-N', '-p', '-t', '-u'],
    mapfile: ['-d', '-n', '-O', '-s', '-u', '-C', '-c'],
    readarray: ['-d', '-n', '-O', '-s', '-u', '-C', '-c'],
    printf: ['-v'],
    getopts: [],
    wait: ['-p'],
  };
  const takes = valueOptions[name] ?? [];
  const operands: Word[] = [];
  for (let i = 0; i < args.length; i++) {
    const text = single(args[i]);
    if (text !== null && text.startsWith('-') && text.length > 1 && operands.length === 0) {
      const flag = text.slice(0, 2);
      if (!takes.includes(flag)) continue;
      const value = text.length > 2 ? literalWord(text.slice(2)) : args[++i];
      if (!value) continue;
      if (
        (flag === '-a' && name === 'read') ||
        (flag === '-v' && name === 'printf') ||
        (flag === '-p' && name === 'wait')
      )
        names.push(value);
      // `mapfile -C 'code' -c 1 arr`: a callback run as shell code.
      if (flag === '-C') codeString(a, [value], scope, depth, subject);
      continue;
    }
    operands.push(args[i] as Word);
  }
  if (name === 'read') names.push(...(operands.length > 0 ? operands : [literalWord('REPLY')]));
  if (name === 'mapfile' || name === 'readarray') names.push(operands[0] ?? literalWord('MAPFILE'));
  if (name === 'getopts' && operands[1]) names.push(operands[1]);
  for (const word of names) {
    const variable = single(word);
    if (variable === null || !/^[A-Za-z_][A-Za-z0-9_]*(\[.*\])?$/.test(variable)) {
      a.add('ask', 'ask.indirect-variable', subject, false, 'assigns a variable whose name is computed at run time');
      continue;
    }
    const base = variable.replace(/\[.*$/, '');
    scope.vars.set(base, null);
    settingAssigned(a, base, unknownWord(subject), subject, scope, depth);
  }
}
