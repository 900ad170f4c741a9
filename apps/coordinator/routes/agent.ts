import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AgentHealth,
  AgentRunBody,
  AgentSessionDetail,
  AgentSessionIdParams,
  AgentSessionList,
  AgentStopBody,
  ApiError,
  ApproveBody,
  CommandApproval,
  CommandApprovalIdParams,
  CommandApprovalList,
  ListAgentSessionsQuery,
  ListCommandApprovalsQuery,
  RejectBody,
} from '@handoff/contracts';
import type { AgentEvent } from '@handoff/contracts';
import type { FastifyReply } from 'fastify';
import { AgentInputError, SessionStateError } from '@handoff/agent';
import type { AgentService, PreparedRun } from '@handoff/agent';
import { principalOf } from '../auth.ts';

const KEEP_ALIVE_MS = 15_000;

export interface AgentRoutesOptions {
  agent: AgentService;
}

/** One SSE message: `event: <type>` and the event as JSON (it carries sessionId and seq). */
export function sseMessage(event: AgentEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

function optionalBody<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}

/** Runs a prepared session and answers with its events as an SSE stream that lives as long as the run. */
async function streamRun(agent: AgentService, run: PreparedRun, reply: FastifyReply): Promise<void> {
  // From here the answer is ours to write.
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  raw.flushHeaders();
  const session = agent.start(run, (event) => {
    if (!raw.destroyed && !raw.writableEnded) raw.write(sseMessage(event));
  });
  // A client that goes away stops its run: nobody would see the events, and tools should not keep working.
  const onClose = (): void => session.abort('client_gone');
  raw.once('close', onClose);
  // A comment line now and then keeps proxies from closing a stream that waits (e.g. for an approval).
  const keepAlive = setInterval(() => {
    if (!raw.destroyed && !raw.writableEnded) raw.write(': keep-alive\n\n');
  }, KEEP_ALIVE_MS);
  try {
    await session.done;
  } finally {
    clearInterval(keepAlive);
    raw.off('close', onClose);
  }
  if (!raw.writableEnded) raw.end();
}

/**
 * /v1/agent: run and resume (SSE), stop, health, the stored sessions, and the command approvals of
 * the exec guard's `ask`. Registered with the prefix `/v1/agent`.
 */
export const agentRoutes: FastifyPluginAsyncZod<AgentRoutesOptions> = async (app, { agent }) => {
  app.post('/run', { config: { access: 'agent' }, schema: { body: AgentRunBody } }, async (request, reply) => {
    let run;
    try {
      run = agent.prepare(request.body, principalOf(request));
    } catch (err) {
      if (err instanceof AgentInputError)
        throw new ApiError(400, err.code, err.message, [{ path: err.field, message: err.message }]);
      throw err;
    }
    await streamRun(agent, run, reply);
  });

  // Another token's session answers like a missing one (404), for an agent token; viewers read every one.
  app.get(
    '/sessions',
    {
      config: { access: 'viewer' },
      schema: { querystring: ListAgentSessionsQuery, response: { 200: AgentSessionList } },
    },
    async (request) => agent.sessions(request.query, principalOf(request)),
  );

  app.get(
    '/sessions/:id',
    { config: { access: 'viewer' }, schema: { params: AgentSessionIdParams, response: { 200: AgentSessionDetail } } },
    async (request) => {
      const session = await agent.session(request.params.id, principalOf(request));
      if (!session) throw new ApiError(404, 'not_found', `no agent session ${request.params.id}`);
      return session;
    },
  );

  app.post(
    '/sessions/:id/resume',
    { config: { access: 'agent', allowEmptyBody: true }, schema: { params: AgentSessionIdParams } },
    async (request, reply) => {
      let run;
      try {
        run = await agent.prepareResume(request.params.id, principalOf(request));
      } catch (err) {
        if (err instanceof SessionStateError) throw new ApiError(err.status, err.code, err.message);
        throw err;
      }
      await streamRun(agent, run, reply);
    },
  );

  // Another token's session answers like a missing one (404): its existence is not the caller's business.
  app.post('/stop', { config: { access: 'agent' }, schema: { body: AgentStopBody } }, async (request) => {
    const stopped = await agent.stop(request.body.sessionId, principalOf(request));
    if (!stopped) throw new ApiError(404, 'not_found', `no running agent session ${request.body.sessionId}`);
    return { sessionId: request.body.sessionId, stopped: true };
  });

  app.get('/health', { config: { access: 'viewer' }, schema: { response: { 200: AgentHealth } } }, async () =>
    agent.health(),
  );

  app.get(
    '/approvals',
    {
      config: { access: 'viewer' },
      schema: { querystring: ListCommandApprovalsQuery, response: { 200: CommandApprovalList } },
    },
    async (request) => agent.approvals.list(request.query),
  );

  app.get(
    '/approvals/:id',
    { config: { access: 'viewer' }, schema: { params: CommandApprovalIdParams, response: { 200: CommandApproval } } },
    async (request) => {
      const approval = await agent.approvals.get(request.params.id);
      if (!approval) throw new ApiError(404, 'not_found', `no command approval ${request.params.id}`);
      return approval;
    },
  );

  app.post(
    '/approvals/:id/approve',
    {
      config: { access: 'operator', allowEmptyBody: true },
      schema: { params: CommandApprovalIdParams, body: optionalBody(ApproveBody), response: { 200: CommandApproval } },
    },
    async (request) =>
      agent.approvals.decide(request.params.id, 'approved', principalOf(request).actor, request.body.reason),
  );

  app.post(
    '/approvals/:id/reject',
    {
      config: { access: 'operator' },
      schema: { params: CommandApprovalIdParams, body: RejectBody, response: { 200: CommandApproval } },
    },
    async (request) =>
      agent.approvals.decide(request.params.id, 'rejected', principalOf(request).actor, request.body.reason),
  );
};
