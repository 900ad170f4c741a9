export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A pino logger (or anything with the same level methods). */
export interface LevelLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Where the embedded Postgres (and resolveDatabase in libs/db) reports what it does: a pino-like logger, or a function that also receives
 * the level so that a caller such as the test runner can drop the chatty debug lines.
 */
export type DbLog = LevelLogger | ((msg: string, level: LogLevel) => void);

export function toLevelLogger(log: DbLog | undefined): LevelLogger {
  if (log === undefined) {
    const noop = (): void => {};
    return { debug: noop, info: noop, warn: noop, error: noop };
  }
  if (typeof log === 'function') {
    return {
      debug: (msg) => log(msg, 'debug'),
      info: (msg) => log(msg, 'info'),
      warn: (msg) => log(msg, 'warn'),
      error: (msg) => log(msg, 'error'),
    };
  }
  // Bind so that pino's methods keep their `this`.
  return {
    debug: (msg) => log.debug(msg),
    info: (msg) => log.info(msg),
    warn: (msg) => log.warn(msg),
    error: (msg) => log.error(msg),
  };
}
