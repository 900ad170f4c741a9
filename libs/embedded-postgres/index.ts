export { startEmbeddedPostgres } from './start.ts';
export type { EmbeddedPostgresOptions, EmbeddedPostgresServer } from './server.ts';
export type { EmbeddedListen } from './listen.ts';
export { DEFAULT_EMBEDDED_PORT, EMBEDDED_DATABASE } from './config.ts';
export { RESTART_ATTEMPTS, superviseEmbeddedPostgres } from './supervisor.ts';
export type { SupervisedPostgres, SupervisorOptions } from './supervisor.ts';
export { toLevelLogger } from './log.ts';
export type { DbLog, LevelLogger, LogLevel } from './log.ts';
// for libs/backup: where a home's cluster, password and WAL archive are, and whether it runs
export { readConfig, urlFor, walArchiveDir, writeConfig } from './config.ts';
export type { PgConfig } from './config.ts';
export { prepareDataDir } from './dataDir.ts';
export { isRoot, postgresUser } from './osUser.ts';
export type { OsIds } from './osUser.ts';
export { readPostmasterPid } from './postmaster.ts';
export { isRunningPostgres } from './processes.ts';
