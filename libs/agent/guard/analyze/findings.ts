/** What the walk records about a command line; the verdict is made from all of them (index.ts). */

export type Decision = 'allow' | 'ask' | 'deny';

export interface Finding {
  decision: Decision;
  rule: string;
  reason: string;
  /** An `allow` rule from guard.json may lift this ask (fail-closed asks are not liftable). */
  liftable: boolean;
}

/** A command as it is quoted in a reason: one line, cut at `max` characters. */
export function oneLine(text: string, max = 160): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
