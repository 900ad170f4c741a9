export { startEmbeddedPostgres } from './start.ts';
export type { EmbeddedPostgresOptions, EmbeddedPostgresServer } from './server.ts';
export type { EmbeddedListen } from './listen.ts';
export { DEFAULT_EMBEDDED_PORT, EMBEDDED_DATABASE } from './config.ts';
export { RESTART_ATTEMPTS, superviseEmbeddedPostgres } from './supervisor.ts';
export type { SupervisedPostgres, SupervisorOptions } from './supervisor.ts';
export { toLevelLogger } from './log.ts';
export type { DbLog, LevelLogger, LogLevel } from './log.ts';
