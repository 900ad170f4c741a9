import { splitArgs } from './commandFacts.ts';
import { single } from './words.ts';
import type { Word } from './words.ts';

/** Programs given as text to tools that are not shells, but can still run commands or write files. */

/** GNU sed's `e` command and `s///e` run commands; `w FILE` and `s///w FILE` write files. */
export function sedRunsOrWrites(args: Word[]): boolean {
  const { operands, optionValues } = splitArgs('sed', args);
  const scripts = [...(optionValues.get('-e') ?? []), ...(optionValues.get('--expression') ?? [])];
  if (scripts.length === 0 && operands[0]) scripts.push(operands[0]);
  return scripts.some((script) => {
    const text = single(script);
    if (text === null) return false;
    const runs =
      /(^|[;\n{}]|^\s*[0-9$,/]+[^;]*?)\s*e(\s|;|$)/.test(text) ||
      /s(.)(?:(?!\1).|\\.)*\1(?:(?!\1).|\\.)*\1[gpiImM0-9]*e/.test(text);
    const writes =
      /(^|[;\n}]|\d|\/)\s*[wW]\s+\S/.test(text) ||
      /s(.)(?:(?!\1).|\\.)*\1(?:(?!\1).|\\.)*\1[gpiImMe0-9]*w\s*\S/.test(text);
    return runs || writes;
  });
}

/** An awk program calling system(), piping to a command, writing a file, or reading the network. */
export function awkRuns(args: Word[]): boolean {
  const program = args.find((a) => !(single(a) ?? '-').startsWith('-'));
  const text = program ? single(program) : null;
  // `print > "/etc/x"` writes a file whose name the guard does not resolve; `-f prog.awk` and
  // `@load` run program text it does not read.
  if (args.some((a) => /^(-f|--file|-E|--exec|-l|--load)(=|$)/.test(single(a) ?? ''))) return true;
  return (
    text !== null &&
    /system\s*\(|\|\s*"|"\s*\||\|&|getline\s*<\s*"\/dev\/tcp|\bprintf?\b[^;{}\n]*>|\|\s*getline|@load|@include/.test(
      text,
    )
  );
}
