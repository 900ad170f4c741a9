/** Blocks closed by a fixed tag (`</tool_call>`, `</function>`, ...): where they end, and the text between the tags. */

export function endAfter(close: string): (rest: string) => number {
  return (rest) => {
    const i = rest.indexOf(close);
    return i < 0 ? -1 : i + close.length;
  };
}

/** `block` without its opener and (when present) its closer. */
export function inner(block: string, open: string, close: string): string {
  let s = block.startsWith(open) ? block.slice(open.length) : block;
  const end = s.lastIndexOf(close);
  if (end >= 0) s = s.slice(0, end);
  return s;
}
