import { z } from 'zod';
import { definePluginEntry } from 'openclaw/plugin-sdk/plugin-entry';
import {
  HandoffApiError,
  createHttpBackend,
  handoffTools,
  holdsOperatorToken,
  type HandoffBackend,
  type HandoffTool,
} from '@handoff/mcp';
import { interceptMessageSend, type MessageSendConfig } from './messageSend.ts';

/**
 * handoff's OpenClaw plugin: the same tools as handoff's MCP server (defined once in @handoff/mcp),
 * registered with OpenClaw's plugin SDK, calling the coordinator with an agent-role token only; and
 * the optional before_tool_call hook of messageSend.ts.
 */

export interface HandoffPluginConfig {
  url?: string;
  token?: string;
  caFile?: string;
  interceptMessageSend?: MessageSendConfig;
}

export const DEFAULT_URL = 'http://127.0.0.1:18800';

/**
 * The plugin holds an agent token only: the first call checks the token's role, and an operator
 * token (which could approve what the agent proposes) is refused for every call. Checked lazily, so
 * that loading the plugin never waits for the coordinator.
 */
export function agentOnly(backend: HandoffBackend): HandoffBackend {
  let checked: Promise<void> | null = null;
  const check = async (): Promise<void> => {
    if (await holdsOperatorToken(backend)) {
      throw new HandoffApiError(
        403,
        'operator_token_refused',
        'the handoff plugin holds an agent token only; create one with `handoff token create --role agent`',
      );
    }
  };
  return {
    async call(method, path, body) {
      checked ??= check().catch((err: unknown) => {
        checked = null; // an unreachable coordinator is asked again next time
        throw err;
      });
      await checked;
      return backend.call(method, path, body);
    },
  };
}

export function backendFor(config: HandoffPluginConfig, env: NodeJS.ProcessEnv = process.env): HandoffBackend {
  const caFile = config.caFile ?? env.HANDOFF_CA;
  return agentOnly(
    createHttpBackend({
      baseUrl: config.url ?? env.HANDOFF_URL ?? DEFAULT_URL,
      token: config.token ?? env.HANDOFF_TOKEN,
      ...(caFile ? { caFile } : {}),
    }),
  );
}

/** A tool's input as JSON Schema (OpenClaw takes TypeBox, which is JSON Schema at run time). */
function parametersOf(tool: HandoffTool): Record<string, unknown> {
  const schema = z.toJSONSchema(tool.inputSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<
    string,
    unknown
  >;
  delete schema.$schema;
  return schema;
}

/** One handoff tool as an OpenClaw agent tool. Failures throw (OpenClaw's contract), naming handoff's error code. */
export function openClawTool(tool: HandoffTool, backend: HandoffBackend) {
  return {
    name: tool.name,
    label: tool.title,
    description: tool.description,
    parameters: parametersOf(tool),
    async execute(
      _toolCallId: string,
      params: unknown,
      signal?: AbortSignal,
      onUpdate?: (update: { content: { type: 'text'; text: string }[]; details: unknown }) => void,
    ) {
      const parsed = tool.inputSchema.safeParse(params ?? {});
      if (!parsed.success)
        throw new Error(
          `validation_failed: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`,
        );
      try {
        const answer = await tool.run(parsed.data, {
          backend,
          signal: signal ?? new AbortController().signal,
          progress: async (update) =>
            onUpdate?.({ content: [{ type: 'text', text: update.message }], details: update }),
        });
        return { content: [{ type: 'text' as const, text: answer.text }], details: answer.structured };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        throw new Error(
          typeof code === 'string' ? `${code}: ${(err as Error).message}` : `internal_error: ${(err as Error).message}`,
          { cause: err },
        );
      }
    },
  };
}

export default definePluginEntry({
  id: 'handoff',
  name: 'handoff',
  description: 'Propose side effects to handoff (durable, idempotent, approved) instead of performing them.',
  register(api) {
    const config = (api.pluginConfig ?? {}) as HandoffPluginConfig;
    const backend = backendFor(config);
    for (const tool of handoffTools()) api.registerTool(openClawTool(tool, backend));
    const sends = config.interceptMessageSend;
    if (sends?.enabled) {
      api.on(
        'before_tool_call',
        async (event, ctx) =>
          interceptMessageSend(backend, sends, {
            params: (event.params ?? {}) as Record<string, unknown>,
            session: ctx.sessionKey ?? ctx.sessionId,
          }),
        { matcher: ['message'] },
      );
    }
  },
});
