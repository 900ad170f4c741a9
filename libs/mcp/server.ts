import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Connector } from '@handoff/connectors';
import { HandoffApiError, type HandoffBackend } from './backend.ts';
import { handoffTools, type HandoffTool, type ToolContext } from './tools.ts';

export const SERVER_NAME = 'handoff';

const INSTRUCTIONS =
  'handoff performs side effects (webhooks, posts, emails, calendar events, deployments) for you, exactly once, after a person approves them ' +
  'where policy asks. Use list_channels to see what can be done, propose_intent to ask for an effect (reuse the same idempotencyKey on every retry), ' +
  'and wait_for_intent or intent_status to learn the outcome. Nothing happens until the intent is approved and performed.';

/**
 * A tool error as MCP carries it (`isError: true`): handoff's error code first, so that a model and a
 * script both see e.g. `idempotency_conflict`, then the message; never a protocol error or a crash.
 */
export function toolError(err: unknown): CallToolResult {
  const error =
    err instanceof HandoffApiError
      ? {
          code: err.code,
          message: err.message,
          status: err.status,
          ...(err.details === undefined ? {} : { details: err.details }),
        }
      : {
          code: 'internal_error',
          message: 'the tool failed unexpectedly; the intent, if any, is unchanged',
          status: 500,
        };
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    structuredContent: { error },
  };
}

/**
 * Runs one tool for a transport: its answer, or its failure as a tool error. `onUnexpected` hears of
 * failures that are not an API refusal (a refusal is the caller's answer, not the server's problem).
 */
export async function runTool(
  tool: HandoffTool,
  args: unknown,
  ctx: ToolContext,
  onUnexpected?: (err: unknown, tool: string) => void,
): Promise<CallToolResult> {
  try {
    const answer = await tool.run(args, ctx);
    return { content: [{ type: 'text', text: answer.text }], structuredContent: answer.structured };
  } catch (err) {
    if (!(err instanceof HandoffApiError)) onUnexpected?.(err, tool.name);
    return toolError(err);
  }
}

export interface McpServerOptions {
  backend: HandoffBackend;
  version: string;
  connectors?: readonly Connector[];
  /** Told of a tool that failed unexpectedly (not of an API refusal, which is the caller's answer). */
  onUnexpectedError?: (err: unknown, tool: string) => void;
  /** Aborts every tool call in flight (the server shutting down, the HTTP caller gone): waits end early. */
  signal?: AbortSignal;
}

/** An MCP server holding handoff's tools, not yet connected to a transport. */
export function createHandoffMcpServer(options: McpServerOptions): McpServer {
  const server = new McpServer({ name: SERVER_NAME, version: options.version }, { instructions: INSTRUCTIONS });
  for (const tool of handoffTools(options.connectors)) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        annotations: tool.annotations,
      },
      async (args: unknown, extra) => {
        const progressToken = extra._meta?.progressToken;
        const ctx: ToolContext = {
          backend: options.backend,
          signal: options.signal ? AbortSignal.any([extra.signal, options.signal]) : extra.signal,
          progress: async (update) => {
            if (progressToken === undefined) return;
            await extra
              .sendNotification({ method: 'notifications/progress', params: { progressToken, ...update } })
              .catch(() => undefined); // a client that went away misses a progress line, nothing more
          },
        };
        return runTool(tool, args, ctx, options.onUnexpectedError);
      },
    );
  }
  return server;
}
