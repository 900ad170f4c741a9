export { buildCoordinator, startCoordinator, resolvePort, DEFAULT_HOST, DEFAULT_PORT } from './main.ts';
export type { BuiltCoordinator, StartCoordinatorOptions, RunningCoordinator } from './main.ts';
export { buildServer, BODY_LIMIT_BYTES } from './server.ts';
// The router's routes and the error mapping alone: the router tests mount them without Postgres.
export { installErrorHandling } from './errors.ts';
export { routerRoutes } from './routes/router.ts';
export type { ServerDeps } from './server.ts';
export { createToken, ensureOperatorToken, generateToken, hashToken, findToken, OPERATOR_TOKEN_FILE } from './auth.ts';
export { createLogger, REDACT_PATHS } from './logger.ts';
export { createSignInLink } from './console/signInLink.ts';
export { isLoopbackHost } from './metrics.ts';
export type { Access, Principal } from './types.ts';
export { createNotifier, digestKey, NOTIFIER_ACTOR } from './notifier/notifier.ts';
export type { Notifier, NotifierOptions, PassResult } from './notifier/notifier.ts';
export { consolePages, digestFor, MAX_ITEMS, type NoticedEvent } from './notifier/digest.ts';
export { runHousekeeping, startHousekeeping, HOUSEKEEPING_ACTOR } from './housekeeping.ts';
export type { HousekeepingResult } from './housekeeping.ts';
