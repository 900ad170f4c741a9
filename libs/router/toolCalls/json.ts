/** JSON inside model text: where a value ends (strings and nesting respected), and lenient parsing. */

/** In `text` from `from` (at `{` or `[`), the index just past the balanced value, or -1 when it is not closed yet. */
export function jsonValueEnd(text: string, from: number): number {
  let depth = 0;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** The value of JSON text, or undefined when it is not JSON. */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One or more JSON values written one after another (whitespace, commas or `;` between), or null. */
export function jsonValues(text: string): unknown[] | null {
  const out: unknown[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && /[\s,;]/.test(text[i] ?? '')) i++;
    if (i >= text.length) return out.length > 0 ? out : null;
    if (text[i] !== '{' && text[i] !== '[') return null;
    const end = jsonValueEnd(text, i);
    if (end < 0) return null;
    const value = tryJson(text.slice(i, end));
    if (value === undefined) return null;
    out.push(value);
    i = end;
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
