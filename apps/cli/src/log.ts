import { pino } from 'pino';
import type { Logger } from 'pino';

/** JSON logs, one line per event, secrets redacted. `HANDOFF_LOG_LEVEL` sets the level (default info). */
export function createLogger(role: string): Logger {
  return pino({
    name: 'handoff',
    level: process.env.HANDOFF_LOG_LEVEL?.trim() || 'info',
    base: { role, pid: process.pid },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'authorization',
        'token',
        '*.token',
        'password',
        '*.password',
        'secret',
        '*.secret',
        'secrets',
        '*.secrets',
        'apiToken',
        '*.apiToken',
        'databaseUrl',
        '*.databaseUrl',
      ],
      censor: '[redacted]',
    },
  });
}
