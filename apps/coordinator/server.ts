import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Policy } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import type { IntentService } from '@handoff/intents';
import type { Router } from '@handoff/router';
import type { AgentService } from '@handoff/agent';
import { installAuth } from './auth.ts';
import { registerConsole } from './console/routes.ts';
import { createSessionStore } from './console/sessions.ts';
import { handleFrameworkError, installErrorHandling } from './errors.ts';
import { healthRoutes } from './health.ts';
import { createMetrics, installMetrics } from './metrics.ts';
import { DEFAULT_REQUEST_LIMITS, installRateLimits } from './rateLimit.ts';
import type { RequestLimits } from './rateLimit.ts';
import { agentRoutes } from './routes/agent.ts';
import { archiveRoutes } from './routes/archive.ts';
import { auditRoutes } from './routes/audit.ts';
import { channelRoutes } from './routes/channels.ts';
import { doctorRoutes } from './routes/doctor.ts';
import { gateRoutes } from './routes/gates.ts';
import { intentByKeyRoutes } from './routes/intentByKey.ts';
import { intentRoutes } from './routes/intents.ts';
import { liveRoutes } from './routes/live.ts';
import { mcpRoutes } from './routes/mcp.ts';
import { nodeRoutes } from './routes/nodes.ts';
import { routerRoutes } from './routes/router.ts';
import { routerUsageRoutes } from './routes/routerUsage.ts';
import { tokenRoutes } from './routes/tokens.ts';

/**
 * The body limit of every route that does not set its own: an intent's payload, a decision, a token
 * request. The model router's routes take more (ROUTER_BODY_LIMIT_BYTES, decision 30).
 */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** A body this long (chars) is parsed in a loop turn of its own (JSON.parse of 8 MiB takes ~25 ms). */
const LARGE_BODY_CHARS = 256 * 1024;

/**
 * Runs the parses of large bodies one per event-loop turn, so that other requests (/healthz) are
 * served between them: several router prompts that finish arriving together would otherwise be
 * parsed back to back in one turn, and the loop would stall for their sum.
 */
function oneLargeParsePerTurn(): (parse: () => void) => void {
  const waiting: (() => void)[] = [];
  const next = (): void => {
    waiting.shift()?.();
    if (waiting.length > 0) setImmediate(next);
  };
  return (parse) => {
    waiting.push(parse);
    if (waiting.length === 1) setImmediate(next);
  };
}

export interface ServerDeps {
  db: Db;
  intents: IntentService;
  log: Logger;
  /** $HANDOFF_HOME */
  home: string;
  /** The address the server will listen on; decides whether /metrics needs a token. */
  bindHost: string;
  /** `--listen`: HTTPS only, with this certificate chain and key (PEM); a plain HTTP request gets no answer. */
  https?: { cert: string; key: string };
  /** The model router; its routes (/v1/models, /v1/chat/completions, ...) are mounted when given. */
  router?: Router;
  /** The agent loop; /v1/agent/* is mounted when given. */
  agent?: AgentService;
  /** Per-token request limits in force (policy.json's `requests`); default the policy's defaults. */
  requestLimits?: () => RequestLimits;
  /** The policy in force (GET /v1/channels says which channels need approval); default the default policy. */
  policy?: () => Policy;
}

/**
 * The coordinator's HTTP server, ready but not listening. Shared things (db, intent service, auth,
 * error mapping, metrics) are set up once on the root instance; each route group is an
 * encapsulated plugin with its prefix and declares, per route, its zod schemas and who may call it.
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key, minVersion: 'TLSv1.2' as const } } : {}),
    // Typed as fastify's base logger so that plugins see a plain FastifyInstance.
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: false,
    // Fastify's per-request info lines are noise; metrics.ts logs one debug line per request instead.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // URLs fastify refuses before routing (bad %-escape, over-long parameter) get the API's error body too
    frameworkErrors: (error, request, reply) => handleFrameworkError(error, request, reply),
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('db', deps.db);
  app.decorate('intents', deps.intents);
  app.decorate('handoffHome', deps.home);

  // No route is public by omission: one that does not say who may call it stops the server from starting.
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined)
      throw new Error(`route ${route.method} ${route.url} must declare config.access`);
  });

  // JSON only (text/plain is refused with 415). An empty JSON body is an error, except on routes whose
  // body is optional (approve, retry), where it means "no body", like a request without one.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const largeParses = oneLargeParsePerTurn();
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' && request.routeOptions.config.allowEmptyBody) {
      done(null, undefined);
      return;
    }
    if ((body as string).length > LARGE_BODY_CHARS) largeParses(() => parseJson(request, body as string, done));
    else parseJson(request, body as string, done);
  });

  installErrorHandling(app);
  // Requests still in flight when the server closes get `connection: close`: a keep-alive socket
  // that outlives them would hold close() (and SIGTERM) for the keep-alive timeout, 72 s.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  const consoleSessions = createSessionStore(deps.db);
  installAuth(app, consoleSessions.tokenHashOf);
  await installRateLimits(app, deps.requestLimits ?? (() => DEFAULT_REQUEST_LIMITS));
  const metrics = createMetrics(deps.db, (err) => deps.log.warn({ err }, 'metrics: database query failed'));
  installMetrics(app, metrics, deps.bindHost);
  deps.router?.registerMetrics(metrics.registry);

  await app.register(healthRoutes);
  await app.register(intentRoutes, { prefix: '/v1/intents' });
  await app.register(intentByKeyRoutes);
  await app.register(channelRoutes, { policy: deps.policy });
  await app.register(mcpRoutes);
  await app.register(gateRoutes, { prefix: '/v1/gates' });
  await app.register(tokenRoutes, { prefix: '/v1/tokens' });
  await app.register(nodeRoutes, { prefix: '/v1/nodes' });
  await app.register(auditRoutes);
  await app.register(doctorRoutes);
  await app.register(archiveRoutes);
  await app.register(liveRoutes, { router: deps.router, agent: deps.agent });
  await registerConsole(app, consoleSessions);
  if (deps.router) await app.register(routerRoutes, { router: deps.router });
  // the usage on record reads Postgres alone: answered with or without a router in this process
  await app.register(routerUsageRoutes);
  if (deps.agent) await app.register(agentRoutes, { prefix: '/v1/agent', agent: deps.agent });
  await app.ready();
  return app;
}
