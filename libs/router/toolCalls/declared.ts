import type { ToolCallParser } from '@handoff/contracts';
import type { Server } from '../fleet.ts';
import { isObject } from './json.ts';
import type { Json } from './types.ts';

/**
 * When the router looks for tool calls in text: the request declared function tools (Chat
 * Completions `{type, function: {name, parameters}}` or Responses `{type, name, parameters}`), did
 * not say `tool_choice: "none"`, and the serving model's parser is not `none`. The plan carries the
 * declared names with their parameter schemas: only those names become calls.
 */
export interface ToolCallPlan {
  parser: Exclude<ToolCallParser, 'none'>;
  /** Declared function name -> its parameters schema. */
  tools: Map<string, Json | undefined>;
}

/** The parser in force for a model: its own, else its node's, else `auto`. */
export function parserOf(server: Server): ToolCallParser {
  return server.model.toolCallParser ?? server.node.toolCallParser ?? 'auto';
}

export function declaredTools(tools: readonly unknown[] | undefined): Map<string, Json | undefined> {
  const out = new Map<string, Json | undefined>();
  for (const tool of tools ?? []) {
    if (!isObject(tool) || tool['type'] !== 'function') continue;
    const fn = isObject(tool['function']) ? tool['function'] : tool;
    if (typeof fn['name'] !== 'string') continue;
    out.set(fn['name'], isObject(fn['parameters']) ? fn['parameters'] : undefined);
  }
  return out;
}

/** The plan for one request on one model, or null when the router leaves the answer's text alone. */
export function toolCallPlan(
  server: Server,
  tools: readonly unknown[] | undefined,
  toolChoice: unknown,
): ToolCallPlan | null {
  const parser = parserOf(server);
  if (parser === 'none' || toolChoice === 'none') return null;
  const declared = declaredTools(tools);
  return declared.size > 0 ? { parser, tools: declared } : null;
}
