import pino from 'pino';
import { handoffHome } from '@handoff/db';
import { startExecutor } from './executor.ts';

/**
 * `node apps/executor/main.ts`: one executor process, for deployments and for tests that need a
 * real process to kill. Needs DATABASE_URL (an executor never starts Postgres of its own; the
 * CLI's `handoff executor` resolves the embedded one first).
 */
const log = pino({ name: 'handoff-executor', level: process.env.HANDOFF_LOG_LEVEL ?? 'info' });
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('handoff executor: DATABASE_URL is not set');
  process.exit(2);
}
try {
  const executor = await startExecutor({ home: handoffHome(), databaseUrl, log });
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    executor.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (err) {
  console.error(`handoff executor: ${(err as Error).message}`);
  process.exit(1);
}
