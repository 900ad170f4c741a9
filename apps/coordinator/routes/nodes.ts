import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { PgBoss, fromKysely } from 'pg-boss';
import { z } from 'zod';
import { ApiError } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { ensureTicketQueue } from '@handoff/intents';
import {
  addNode,
  channelsOf,
  CreatedNode,
  CreateNodeBody,
  listNodes,
  NodeExists,
  NodeList,
  NodeNotFound,
  NodeParams,
  NodesUnavailable,
  removeNode,
} from '@handoff/nodes';
import { principalOf } from '../auth.ts';

/**
 * /v1/nodes (operator): register a node for its accounts and get its one join command, list the
 * nodes with what their executors last reported, remove one. The node's database role and its
 * rights are @handoff/nodes' and migrations/005_node_roles.sql's.
 */
export const nodeRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/',
    { config: { access: 'operator' }, schema: { body: CreateNodeBody, response: { 201: CreatedNode } } },
    async (request, reply) => {
      const actor = principalOf(request).actor;
      const created = await addNode(app.db, { ...request.body, actor, ca: coordinatorCa(app.handoffHome) }).catch(
        asApiError,
      );
      // a node's role may not create pg-boss queues (a DDL of pg-boss's): the owner makes its channels' now
      await ensureQueues(app.db, channelsOf(request.body.accounts));
      await app.intents.audit({
        actor,
        action: 'node.add',
        target: created.id,
        details: { accounts: request.body.accounts },
      });
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get('/', { config: { access: 'operator' }, schema: { response: { 200: NodeList } } }, async () => ({
    nodes: await listNodes(app.db),
  }));

  app.delete(
    '/:id',
    {
      config: { access: 'operator' },
      schema: { params: NodeParams, response: { 200: z.strictObject({ id: z.string(), terminated: z.number() }) } },
    },
    async (request) => {
      const removed = await removeNode(app.db, request.params.id).catch(asApiError);
      await app.intents.audit({
        actor: principalOf(request).actor,
        action: 'node.remove',
        target: removed.id,
        details: { terminatedSessions: removed.terminated },
      });
      return removed;
    },
  );
};

function asApiError(err: unknown): never {
  if (err instanceof NodeExists) throw new ApiError(409, 'name_taken', err.message);
  if (err instanceof NodeNotFound) throw new ApiError(404, 'not_found', err.message);
  if (err instanceof NodesUnavailable) throw new ApiError(409, 'invalid_state', err.message);
  throw err;
}

/** The coordinator's CA when it listens with TLS ($HANDOFF_HOME/tls/ca.pem), else null. */
function coordinatorCa(home: string): string | null {
  const path = join(home, 'tls', 'ca.pem');
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}

/** The ticket queues of `channels`, made through a pg-boss on the owner's pool that lives for this call. */
async function ensureQueues(db: Db, channels: string[]): Promise<void> {
  const boss = new PgBoss({ db: fromKysely(db), schema: 'pgboss', supervise: false, schedule: false, migrate: false });
  boss.on('error', () => {});
  await boss.start();
  try {
    for (const channel of channels) await ensureTicketQueue(boss, channel);
  } finally {
    await boss.stop({ graceful: false, close: false });
  }
}
