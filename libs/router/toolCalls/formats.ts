import type { ToolCallParser } from '@handoff/contracts';
import { deepseek, deepseekAscii } from './deepseek.ts';
import { glm45 } from './glm45.ts';
import { hermes } from './hermes.ts';
import { llama3 } from './llama3.ts';
import { mistral } from './mistral.ts';
import { qwen3Coder, qwen3CoderBare } from './qwen3Coder.ts';
import type { BlockFormat, WholeReplyFormat } from './types.ts';

/** The formats each `toolCallParser` reads; `auto` reads them all (they cannot be mistaken for one another). */
export interface Formats {
  blocks: BlockFormat[];
  whole: WholeReplyFormat | null;
}

const BLOCKS: BlockFormat[] = [hermes, qwen3Coder, glm45, qwen3CoderBare, mistral, deepseek, deepseekAscii];

export function formatsFor(parser: Exclude<ToolCallParser, 'none'>): Formats {
  if (parser === 'auto') return { blocks: BLOCKS, whole: llama3 };
  if (parser === 'llama3') return { blocks: [], whole: llama3 };
  return { blocks: BLOCKS.filter((f) => f.parser === parser), whole: null };
}
