import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ArchiveBatch, ArchiveQuery, ArchiveRemoveBody, ArchiveRemoved } from '@handoff/contracts';
import { readArchiveBatch, removeArchived } from '@handoff/intents';
import { principalOf } from '../auth.ts';

/**
 * The archive (operator only): GET /v1/archive reads a batch of finished intents with all their
 * rows; POST /v1/archive/remove removes those the CLI has written out and fsynced. Two calls, so
 * nothing is removed before it is safe in the operator's file.
 */
export const archiveRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/archive',
    { config: { access: 'operator' }, schema: { querystring: ArchiveQuery, response: { 200: ArchiveBatch } } },
    async (request) => ({ intents: await readArchiveBatch(app.db, request.query) }),
  );
  app.post(
    '/v1/archive/remove',
    { config: { access: 'operator' }, schema: { body: ArchiveRemoveBody, response: { 200: ArchiveRemoved } } },
    async (request) => {
      const { ids, file, before } = request.body;
      return { removed: await removeArchived(app.db, ids, principalOf(request).actor, { file, before }) };
    },
  );
};
