import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import OpenAI from 'openai';
import { Registry } from 'prom-client';
import { installErrorHandling, routerRoutes } from '@handoff/coordinator';
import { createRouter } from '@handoff/router';
import type { Router, RouterOptions } from '@handoff/router';

/**
 * The router mounted in a bare Fastify with the coordinator's router routes and error mapping (no
 * Postgres, no auth), reached through the official openai client or plain fetch.
 * test/router/coordinator.test.ts covers it inside the real coordinator.
 */
export interface MountedRouter {
  url: string;
  client: OpenAI;
  router: Router;
  registry: Registry;
  post(path: string, body: unknown): Promise<Response>;
  close(): Promise<void>;
}

export async function mountRouter(options: RouterOptions): Promise<MountedRouter> {
  const router = createRouter(options);
  const registry = new Registry();
  router.registerMetrics(registry);
  // forceCloseConnections: a test that stops reading a stream must not hold close() for the 72 s keep-alive.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  await app.register(routerRoutes, { router });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    url,
    client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 }),
    router,
    registry,
    post: (path, body) =>
      fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    close: async () => {
      await app.close();
      await router.close();
    },
  };
}
