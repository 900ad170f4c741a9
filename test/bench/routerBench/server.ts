import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { FleetConfig } from '@handoff/contracts';
import { createRouter } from '@handoff/router';
import { installErrorHandling } from '@handoff/coordinator';
import { createLogger } from '@handoff/coordinator';
import { routerRoutes } from '@handoff/coordinator';

/**
 * The router under benchmark, in its own process: a Fastify server set up as
 * apps/coordinator/server.ts sets up the coordinator's (same logger, same Fastify options, the
 * same error handling and router routes), with two nodes pointing at the fake upstream: one of
 * kind `openai` (pass-through), one of kind `vllm` (per-server quirks applied). The
 * coordinator's logger writes its `router request` line per request to stdout, which the
 * benchmark sends to /dev/null. Not mounted: bearer-token auth and the HTTP metrics hook, which
 * need Postgres (see docs/router.md).
 *
 *   server.ts <upstream base URL up to /v1> <port>
 */

const [upstream, port] = process.argv.slice(2);
if (!upstream || !port) throw new Error('usage: server.ts <upstream base URL up to /v1> <port>');
const fleet = FleetConfig.parse({
  nodes: [
    // kind openai: answers pass through byte for byte
    { id: 'bench', baseUrl: upstream, kind: 'openai', models: [{ id: 'bench-model', contextWindow: 131072 }] },
    // kind vllm, same upstream: answers are parsed and normalised (libs/router/quirks.ts), streams re-framed
    { id: 'bench-vllm', baseUrl: upstream, kind: 'vllm', models: [{ id: 'bench-model-vllm', contextWindow: 131072 }] },
  ],
});
const log = createLogger();
const router = createRouter({ fleet: () => fleet, log, probeCheckMs: 0 });
const app = Fastify({
  loggerInstance: log as FastifyBaseLogger,
  trustProxy: false,
  logController: new LogController({ disableRequestLogging: true }),
  return503OnClosing: true,
  forceCloseConnections: 'idle',
});
app.setValidatorCompiler(validatorCompiler);
app.setSerializerCompiler(serializerCompiler);
installErrorHandling(app);
await app.register(routerRoutes, { router });
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => router.close())
    .finally(() => process.exit(0));
});
