import type { ToolCallParser } from '@handoff/contracts';

/**
 * What every text tool-call format shares: a call as the model wrote it (a name and arguments,
 * an object or JSON text), and a format as the extractor drives it (the text that opens a block,
 * where the block ends, and the calls in a whole block).
 */

export type Json = Record<string, unknown>;

/** A call as a format read it, before its name is checked and its arguments coerced. */
export interface RawCall {
  name: string;
  /** An object, or text that should hold one (JSON formats), or undefined (no arguments). */
  arguments: unknown;
}

/** A call ready for the client: a declared name and arguments as JSON text, coerced to the schema. */
export interface ToolCall {
  name: string;
  arguments: string;
}

/** A format whose calls sit in a block opened by a marker (`<tool_call>`, `[TOOL_CALLS]`, ...). */
export interface BlockFormat {
  parser: Exclude<ToolCallParser, 'auto' | 'none'>;
  /** The text that opens a block. Formats sharing an opener share its end too. */
  open: string;
  /** In `rest` (the text after the opener), the index just past the block's end, or -1 when not there yet. */
  end(rest: string): number;
  /** The calls in a whole block (opener included; the end may be missing at the end of a reply), or null when it is not this format's. */
  parse(block: string): RawCall[] | null;
}

/** A format that is the whole reply (Llama 3.x JSON): decided at the reply's end. */
export interface WholeReplyFormat {
  parser: Exclude<ToolCallParser, 'auto' | 'none'>;
  /** 'yes' the reply so far may still be a call (hold it), 'no' it cannot be (it is text). */
  mayBe(start: string): boolean;
  parse(reply: string): RawCall[] | null;
}

/** What the extractor hands out, in order: text that stays content, and calls. */
export type Piece = { text: string } | { call: ToolCall };
