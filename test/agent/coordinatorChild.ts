/**
 * A coordinator in a process of its own, for tests that kill it (sessionStack.ts): started with
 * HANDOFF_HOME and DATABASE_URL from the environment, it prints `listening <url>` once it listens.
 */
import pino from 'pino';
import { startCoordinator } from '@handoff/coordinator';

const home = process.env['HANDOFF_HOME'];
const databaseUrl = process.env['DATABASE_URL'];
if (!home || !databaseUrl) throw new Error('HANDOFF_HOME and DATABASE_URL must be set');

const coordinator = await startCoordinator({
  home,
  databaseUrl,
  port: 0,
  log: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
  configIntervalMs: 100,
});
process.stdout.write(`listening ${coordinator.url}\n`);
process.on('SIGTERM', () => {
  void coordinator.close().then(() => process.exit(0));
});
