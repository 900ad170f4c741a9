import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { MAX_INTENT_PAYLOAD_BYTES } from '@handoff/intents';
import { createHandoffMcpServer, type HandoffBackend } from '@handoff/mcp';
import coordinatorPackage from '../package.json' with { type: 'json' };

/**
 * The tools' backend inside the coordinator: each API call is injected into this server's own router
 * with the caller's bearer token, so auth, validation, idempotency and rate limits have one home
 * (the /v1 routes) and an MCP caller can do exactly what its token can do over HTTP.
 */
function injectBackend(app: FastifyInstance, authorization: string): HandoffBackend {
  return {
    async call(method, path, body) {
      const res = await app.inject({
        method,
        url: path,
        headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      let parsed: unknown;
      try {
        parsed = res.body === '' ? undefined : JSON.parse(res.body);
      } catch {
        parsed = undefined;
      }
      return { status: res.statusCode, body: parsed };
    },
  };
}

/** A JSON-RPC error answer without an id, as the MCP transports send for requests they refuse. */
function rpcRefusal(message: string) {
  return { jsonrpc: '2.0', error: { code: -32000, message }, id: null };
}

/**
 * POST /mcp: handoff's MCP tools over Streamable HTTP, for agents (`agent` or `operator` tokens; the
 * auth hook refuses everyone else before the body is read). Stateless: every POST gets a fresh
 * server and transport, so no session outlives its request and any coordinator can answer any call.
 * A tool call's answer streams as server-sent events, which carry wait_for_intent's progress.
 */
export const mcpRoutes: FastifyPluginAsync = async (app) => {
  // a wait_for_intent in flight must not hold the coordinator's shutdown for its whole timeout
  const shutdown = new AbortController();
  app.addHook('preClose', async () => shutdown.abort());

  app.post(
    '/mcp',
    // an intent payload may be as large as POST /v1/intents takes, plus its JSON-RPC envelope
    { config: { access: 'agent' }, bodyLimit: MAX_INTENT_PAYLOAD_BYTES + 64 * 1024 },
    async (request, reply) => {
      const callerGone = new AbortController();
      const server = createHandoffMcpServer({
        backend: injectBackend(app, request.headers.authorization ?? ''),
        version: coordinatorPackage.version,
        onUnexpectedError: (err, tool) => request.log.error({ err, tool }, 'mcp: a tool failed unexpectedly'),
        signal: AbortSignal.any([shutdown.signal, callerGone.signal]),
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      reply.hijack();
      reply.raw.on('close', () => {
        callerGone.abort();
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    },
  );

  // Stateless: no stream to open with GET, no session to end with DELETE.
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      config: { access: 'agent' },
      handler: async (_request, reply) =>
        reply
          .code(405)
          .header('allow', 'POST')
          .send(rpcRefusal('Method not allowed: this server is stateless; use POST.')),
    });
  }
};
