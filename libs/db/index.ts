export { createDb, createPool, pgErrorFields } from './pool.ts';
export type { Db, PoolOptions } from './pool.ts';
export { migrate, MigrationChecksumError } from './migrate.ts';
export { LOCK_GATES, LOCK_HOUSEKEEPING, LOCK_MIGRATIONS, LOCK_NOTIFIER, LOCK_SWEEPER } from './advisoryLocks.ts';
export type { MigrateOptions } from './migrate.ts';
export { handoffHome, resolveDatabase, stopOnSignals } from './resolveDatabase.ts';
export type { ResolveDatabaseOptions, ResolvedDatabase } from './resolveDatabase.ts';
// The embedded Postgres has its own lib; these keep `@handoff/db` imports of it working.
export {
  DEFAULT_EMBEDDED_PORT,
  EMBEDDED_DATABASE,
  RESTART_ATTEMPTS,
  startEmbeddedPostgres,
  superviseEmbeddedPostgres,
} from '@handoff/embedded-postgres';
export type {
  DbLog,
  EmbeddedPostgresOptions,
  EmbeddedPostgresServer,
  LevelLogger,
  LogLevel,
  SupervisedPostgres,
  SupervisorOptions,
} from '@handoff/embedded-postgres';
export type * from './schema.ts';
export { groupRequests } from './groupRequests.ts';
export type { GroupRequestOptions } from './groupRequests.ts';
