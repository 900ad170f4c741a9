import { pino } from 'pino';
import type { Logger, LoggerOptions } from 'pino';

/** Paths pino blanks out wherever they appear in a log line: bearer tokens and anything named like a secret. */
export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'request.headers.authorization',
  'token',
  '*.token',
  'apiToken',
  '*.apiToken',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'databaseUrl',
  '*.databaseUrl',
];

interface LoggableRequest {
  method?: string;
  url?: string;
  id?: string;
}

/** JSON, one line per event, secrets redacted; a request is logged without its query string (`/live?token=`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env['HANDOFF_LOG_LEVEL'] ?? 'info',
    ...options,
    base: { service: 'coordinator', ...(options.base ?? {}) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      err: pino.stdSerializers.err,
      req: (req: LoggableRequest) => ({ id: req.id, method: req.method, url: req.url?.split('?')[0] }),
      ...(options.serializers ?? {}),
    },
  });
}
