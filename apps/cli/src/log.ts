import { pino } from 'pino';
import type { Logger } from 'pino';
import { LOG_REDACT_PATHS } from '@handoff/contracts';

/** JSON logs, one line per event, secrets redacted. `HANDOFF_LOG_LEVEL` sets the level (default info). */
export function createLogger(role: string): Logger {
  return pino({
    name: 'handoff',
    level: process.env.HANDOFF_LOG_LEVEL?.trim() || 'info',
    base: { role, pid: process.pid },
    redact: {
      paths: LOG_REDACT_PATHS,
      censor: '[redacted]',
    },
  });
}
