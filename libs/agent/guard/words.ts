import type { Node } from 'web-tree-sitter';

/**
 * Static evaluation of bash words: quote removal, escapes, `$'..'`, brace expansion, known
 * variables and tilde. Anything decided at run time (a substitution, an unknown variable) makes
 * the word unknown; the literal text before it is kept as `prefix` for path judgement.
 */

export interface Word {
  /** Every value the word can take (brace expansion, loop variables); null when not known statically. */
  values: string[] | null;
  /** Unquoted glob characters (`*`, `?`, `[`) remain in the values. */
  glob: boolean;
  /** For an unknown word: the literal text before the first unknown part. */
  prefix: string;
  /** The word contains `$(..)`, backticks or `<(..)`. */
  substitution: boolean;
  /** Set for xargs/parallel input: unknown and assumed to lie outside the sandbox. */
  assumeOutside?: boolean;
  /** The source text, for reasons. */
  text: string;
  /** The syntax node it came from (absent for synthetic words). */
  node?: Node;
}

/** Variables known at this point of the script; null = assigned from something unknown. */
export type Vars = Map<string, string[] | null>;

export interface WordEnv {
  vars: Vars;
  home: string;
  cwd: string | null;
  /** The top of the git repository the working directory is in, when it lies in the sandbox. */
  gitTop?: () => string | null;
}

const MAX_VALUES = 64;
// Inside a pattern string a backslash escapes the next character (quoted text is stored escaped).
const SPECIAL = /[\\*?[\]{},~]/g;
const escapeLiteral = (text: string): string => text.replace(SPECIAL, (c) => `\\${c}`);

/** A pattern: escaped text, or null for an unknown part (its literal prefix kept in `before`). */
interface Pattern {
  parts: string[] | null;
  prefix: string;
  substitution: boolean;
}

function product(a: string[], b: string[]): string[] {
  const out: string[] = [];
  for (const x of a) for (const y of b) if (out.length < MAX_VALUES) out.push(x + y);
  return out;
}

function lookup(name: string, env: WordEnv): string[] | null {
  if (env.vars.has(name)) return env.vars.get(name) ?? null;
  if (name === 'HOME') return [env.home];
  if (name === 'PWD') return env.cwd === null ? null : [env.cwd];
  return null;
}

function expansionName(node: Node): string | null {
  // `${NAME}` only: any operator (`${!x}`, `${x:-y}`, `${x/a/b}`) makes the value unknown.
  const named = node.namedChildren.filter((c): c is Node => c !== null);
  if (named.length !== 1 || named[0]?.type !== 'variable_name') return null;
  if (node.text !== `\${${named[0].text}}`) return null;
  return named[0].text;
}

/**
 * `${v%.js}`, `${v#src}` with a literal pattern and `${v:-default}` on a known variable; anything
 * else (`${!x}`, patterns with wildcards, substitutions) is unknown.
 */
function operatorExpansion(node: Node, env: WordEnv): string[] | null {
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(%%|%|##|#|:-|-)([^*?[\]{}$`'"\\]*)\}$/.exec(node.text);
  if (!m) return null;
  const [, name = '', op, arg = ''] = m;
  const values = lookup(name, env);
  // A variable this command made unknown (`read x`) may hold anything; one it never set is unset.
  if (op === ':-' || op === '-')
    return values === null
      ? env.vars.has(name)
        ? null
        : [arg]
      : op === ':-'
        ? values.map((v) => (v === '' ? arg : v))
        : values;
  if (values === null) return null;
  return values.map((v) => {
    if ((op === '%' || op === '%%') && v.endsWith(arg)) return v.slice(0, v.length - arg.length);
    if ((op === '#' || op === '##') && v.startsWith(arg)) return v.slice(arg.length);
    return v;
  });
}

function decodeAnsiC(body: string): string {
  return body.replace(
    /\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)/gs,
    (_m, esc: string) => {
      const head = esc[0];
      if (head === 'x' || head === 'u' || head === 'U') return String.fromCodePoint(parseInt(esc.slice(1), 16));
      if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8));
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        a: '\x07',
        b: '\b',
        e: '\x1b',
        E: '\x1b',
        f: '\f',
        v: '\v',
      };
      return simple[esc] ?? esc;
    },
  );
}

function unknown(prefix: string, substitution = false): Pattern {
  return { parts: null, prefix, substitution };
}

function known(parts: string[]): Pattern {
  return { parts, prefix: '', substitution: false };
}

/** Join patterns left to right; the first unknown one ends the known prefix. */
function concat(pieces: Pattern[]): Pattern {
  let parts: string[] | null = [''];
  let prefix = '';
  let substitution = false;
  for (const piece of pieces) {
    substitution ||= piece.substitution;
    if (parts === null) continue;
    if (piece.parts === null) {
      prefix = (parts[0] ?? '') + piece.prefix;
      parts = null;
      continue;
    }
    parts = product(parts, piece.parts);
  }
  return { parts, prefix, substitution };
}

function doubleQuoted(node: Node, env: WordEnv): Pattern {
  const pieces: Pattern[] = [];
  let cursor = node.startIndex + (node.text.startsWith('$"') ? 2 : 1);
  const end = node.endIndex - 1;
  const source = node.text;
  const base = node.startIndex;
  for (const child of node.children) {
    if (!child || !child.isNamed) continue;
    if (child.startIndex > cursor)
      pieces.push(known([escapeLiteral(unescapeDouble(source.slice(cursor - base, child.startIndex - base)))]));
    if (child.type === 'string_content') pieces.push(known([escapeLiteral(unescapeDouble(child.text))]));
    else pieces.push(evalPattern(child, env, true));
    cursor = child.endIndex;
  }
  if (end > cursor) pieces.push(known([escapeLiteral(unescapeDouble(source.slice(cursor - base, end - base)))]));
  return concat(pieces);
}

function unescapeDouble(text: string): string {
  return text.replace(/\\([$`"\\\n])/g, (_m, c: string) => (c === '\n' ? '' : c));
}

function evalPattern(node: Node, env: WordEnv, quoted = false): Pattern {
  switch (node.type) {
    case 'word':
    case 'number':
    case 'command_name':
    case 'heredoc_start':
      if (node.type === 'command_name' && node.namedChildCount === 1 && node.namedChildren[0])
        return evalPattern(node.namedChildren[0], env);
      return quoted ? known([escapeLiteral(node.text)]) : known([node.text]);
    case 'raw_string':
      return known([escapeLiteral(node.text.slice(1, -1))]);
    case 'ansi_c_string':
      return known([escapeLiteral(decodeAnsiC(node.text.slice(2, -1)))]);
    case 'string':
    case 'translated_string':
      return doubleQuoted(node, env);
    case 'brace_expression':
      return known([node.text]);
    case 'concatenation':
      return concat(node.children.filter((c): c is Node => c !== null).map((c) => evalPattern(c, env, quoted)));
    case 'simple_expansion': {
      const name = node.namedChildren[0];
      const values = name && name.type === 'variable_name' ? lookup(name.text, env) : null;
      return values ? known(values.map(escapeLiteral)) : unknown('');
    }
    case 'expansion': {
      // `${arr[0]}`, `${arr[@]}`: any of the array's values (which element is not followed).
      const element = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\[[^\]]*\]\}$/.exec(node.text);
      if (element) {
        const values = lookup(element[1] ?? '', env);
        return values ? known(values.map(escapeLiteral)) : unknown('');
      }
      const name = expansionName(node);
      const values = name ? lookup(name, env) : operatorExpansion(node, env);
      return values ? known(values.map(escapeLiteral)) : unknown('');
    }
    case 'command_substitution': {
      // `$(pwd)` is the working directory; anything else is decided at run time.
      if (/^(\$\(|`)\s*pwd(\s+-[LP])?\s*(\)|`)$/.test(node.text) && env.cwd !== null)
        return { ...known([escapeLiteral(env.cwd)]), substitution: true };
      // `cd "$(git rev-parse --show-toplevel)"`: the repository's top, when it is in the sandbox.
      if (/^(\$\(|`)\s*git\s+rev-parse\s+--show-toplevel\s*(\)|`)$/.test(node.text)) {
        const top = env.gitTop?.() ?? null;
        if (top !== null) return { ...known([escapeLiteral(top)]), substitution: true };
      }
      // `"$(cat <<'EOF' … EOF)"` (a commit message): the here-doc's text, when it expands nothing.
      const heredoc = /^\$\(\s*cat\s*<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1\s*\n([\s\S]*?)\n[ \t]*\2\s*\)$/.exec(
        node.text,
      );
      if (heredoc && (heredoc[1] !== '' || !/[$`\\]/.test(heredoc[3] ?? '')))
        return { ...known([escapeLiteral((heredoc[3] ?? '').replace(/\n+$/, ''))]), substitution: true };
      return unknown('', true);
    }
    case 'process_substitution':
      return unknown('', true);
    default:
      return unknown('');
  }
}

/** `a{b,c}d` and `{1..3}`; backslash-escaped braces stay literal. */
export function expandBraces(pattern: string, budget = MAX_VALUES): string[] {
  let depth = 0;
  let open = -1;
  let hasComma = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') {
      if (depth === 0) {
        open = i;
        hasComma = false;
      }
      depth++;
    } else if (c === ',' && depth === 1) {
      hasComma = true;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        const inner = pattern.slice(open + 1, i);
        const head = pattern.slice(0, open);
        const tail = pattern.slice(i + 1);
        let options: string[] | null = null;
        if (hasComma) options = splitTopLevel(inner);
        else {
          const range = /^(-?\d+)\.\.(-?\d+)$/.exec(inner) ?? /^([a-zA-Z])\.\.([a-zA-Z])$/.exec(inner);
          if (range) options = rangeValues(range[1] ?? '', range[2] ?? '');
        }
        if (options === null) {
          // Not an expansion (`{}` of find, `${`-less text): keep it and look further on.
          return expandBraces(tail, budget)
            .map((t) => head + pattern.slice(open, i + 1) + t)
            .slice(0, budget);
        }
        const out: string[] = [];
        for (const option of options) {
          if (out.length >= budget) break; // before recursing: `{a,b}{a,b}…` must stay linear
          for (const value of expandBraces(head + option + tail, budget - out.length)) {
            if (out.length >= budget) return out;
            out.push(value);
          }
        }
        return out;
      }
    }
  }
  return [pattern];
}

function splitTopLevel(inner: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  out.push(inner.slice(start));
  return out;
}

function rangeValues(from: string, to: string): string[] | null {
  const numeric = /^-?\d+$/.test(from);
  const a = numeric ? Number(from) : from.charCodeAt(0);
  const b = numeric ? Number(to) : to.charCodeAt(0);
  if (Math.abs(b - a) >= MAX_VALUES) return null;
  const step = a <= b ? 1 : -1;
  const out: string[] = [];
  for (let v = a; step > 0 ? v <= b : v >= b; v += step) out.push(numeric ? String(v) : String.fromCharCode(v));
  return out;
}

// `@(a|b)`, `+(x)`, `!(x)` are globs once `shopt -s extglob` is on: taken as globs always.
const hasGlob = (pattern: string): boolean => /(^|[^\\])(\\\\)*([*?[]|[@+!]\()/.test(pattern);
const unescape = (pattern: string): string => pattern.replace(/\\(.)/gs, '$1');

function tilde(pattern: string, env: WordEnv): string {
  // Only an unquoted `~` at the start expands; `~user` becomes that user's home beside ours.
  // `~+` is $PWD, `~-` $OLDPWD (not tracked: taken as `/`, outside, to fail closed).
  if (/^~\+(?=\/|$)/.test(pattern))
    return env.cwd === null ? `/${pattern.slice(2)}` : escapeLiteral(env.cwd) + pattern.slice(2);
  if (/^~-(?=\/|$)/.test(pattern)) return `/${pattern.slice(2)}`;
  const m = /^~([A-Za-z0-9._-]*)(?=\/|$)/.exec(pattern);
  if (!m) return pattern;
  const user = m[1] ?? '';
  const home =
    user === ''
      ? (lookup('HOME', env)?.[0] ?? env.home)
      : user === 'root'
        ? '/root'
        : `${env.home.replace(/\/[^/]*\/?$/, '')}/${user}`;
  return escapeLiteral(home) + pattern.slice(m[0].length);
}

/** Evaluate one argument node. */
export function evalWord(node: Node, env: WordEnv): Word {
  const pattern = evalPattern(node, env);
  const text = node.text;
  if (pattern.parts === null) {
    const prefix = unescape(tilde(pattern.prefix, env));
    return {
      values: null,
      glob: false,
      prefix,
      substitution: pattern.substitution || hasSubstitution(node),
      text,
      node,
    };
  }
  const values: string[] = [];
  let glob = false;
  for (const part of pattern.parts) {
    for (const expanded of expandBraces(tilde(part, env))) {
      if (values.length >= MAX_VALUES) break;
      glob ||= hasGlob(expanded);
      values.push(unescape(expanded));
    }
  }
  return { values, glob, prefix: '', substitution: hasSubstitution(node), text, node };
}

function hasSubstitution(node: Node): boolean {
  return node.descendantsOfType(['command_substitution', 'process_substitution']).length > 0;
}

/** A word made from a plain string (xargs placeholders, synthetic operands). */
export function literalWord(value: string): Word {
  return { values: [value], glob: false, prefix: '', substitution: false, text: value };
}

export function unknownWord(text: string, assumeOutside = false): Word {
  return { values: null, glob: false, prefix: '', substitution: false, assumeOutside, text };
}

/** The single static value of a word, or null. */
export function single(word: Word | undefined): string | null {
  if (!word || word.values === null || word.values.length !== 1 || word.glob) return null;
  return word.values[0] ?? null;
}
