import { pino } from 'pino';
import type { Logger, LoggerOptions } from 'pino';
import { LOG_REDACT_PATHS } from '@handoff/contracts';

/** Paths pino blanks out wherever they appear in a log line (the shared list, @handoff/contracts redaction.ts). */
export const REDACT_PATHS = LOG_REDACT_PATHS;

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
