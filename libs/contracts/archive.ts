import { z } from 'zod';

/**
 * `handoff archive --before DATE --to FILE` (GET /v1/archive, POST /v1/archive/remove; operator
 * only). Finished intents are read in batches, each with every row that belongs to it, written to
 * the file (one intent per line) and fsynced, and only then removed.
 */

/** A row as Postgres holds it (to_jsonb): every column, nothing renamed, so the file loses nothing. */
const Row = z.record(z.string(), z.unknown());

export const ArchivedIntent = z.strictObject({
  intent: Row.and(z.object({ id: z.uuid() })),
  approvals: z.array(Row),
  attempts: z.array(Row),
  receipts: z.array(Row),
});
export type ArchivedIntent = z.infer<typeof ArchivedIntent>;

export const ArchiveQuery = z.strictObject({
  /** Intents created before this instant. */
  before: z.iso.datetime({ offset: true }),
  /** The id of the last intent of the previous batch (ids ascend). */
  after: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
export type ArchiveQuery = z.infer<typeof ArchiveQuery>;

export const ArchiveBatch = z.strictObject({ intents: z.array(ArchivedIntent) });
export type ArchiveBatch = z.infer<typeof ArchiveBatch>;

export const ArchiveRemoveBody = z.strictObject({
  ids: z.array(z.uuid()).min(1).max(1000),
  /** Where they were written, for the audit row. */
  file: z.string().min(1).max(4096),
  before: z.iso.datetime({ offset: true }),
});
export type ArchiveRemoveBody = z.infer<typeof ArchiveRemoveBody>;

/** The ids removed now; an id not finished (or already gone) is not among them. */
export const ArchiveRemoved = z.strictObject({ removed: z.array(z.uuid()) });
export type ArchiveRemoved = z.infer<typeof ArchiveRemoved>;
