import { z } from 'zod';
import { bashTool } from './bash.ts';
import { editFileTool } from './editFile.ts';
import { globTool } from './glob.ts';
import { grepTool } from './grep.ts';
import { intentStatusTool } from './intentStatus.ts';
import { proposeIntentTool } from './proposeIntent.ts';
import { readFileTool } from './readFile.ts';
import type { Tool } from './tool.ts';
import { writeFileTool } from './writeFile.ts';

export type { Tool, ToolContext, ToolOutcome } from './tool.ts';

export const TOOLS: readonly Tool[] = [
  bashTool,
  readFileTool,
  writeFileTool,
  editFileTool,
  globTool,
  grepTool,
  proposeIntentTool,
  intentStatusTool,
];

export function findTool(name: string): Tool | undefined {
  return TOOLS.find((t) => t.name === name);
}

/** The `tools` array of a Chat Completions request. */
export function toolDefinitions(): {
  type: 'function';
  function: { name: string; description: string; parameters: unknown };
}[] {
  return TOOLS.map((t) => {
    const { $schema: _ignored, ...parameters } = z.toJSONSchema(t.args, { io: 'input' }) as Record<string, unknown>;
    return { type: 'function', function: { name: t.name, description: t.description, parameters } };
  });
}
