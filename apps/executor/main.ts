import pino from 'pino';
import type { Logger } from 'pino';
import { LOG_REDACT_PATHS, REDACTED, redactSecretLooking } from '@handoff/contracts';
import { handoffHome } from '@handoff/db';
import { joinedNode, type JoinedNode } from '@handoff/nodes';
import { CredentialsRefused } from './credentialsRefused.ts';
import { startExecutor } from './executor.ts';
import { loadSecrets, redactorOf, type Secrets } from './secrets.ts';

/**
 * The executor's logger: the shared redaction (@handoff/contracts redaction.ts) over every line,
 * so no credential of secrets.json, in any encoding, nor anything shaped like a token, is written.
 */
function redactingLogger(secrets: Secrets): Logger {
  const known = redactorOf(secrets);
  const scrub = (text: string): string => redactSecretLooking(known(text));
  const scrubValue = (value: unknown, depth = 0): unknown => {
    if (typeof value === 'string') return scrub(value);
    if (depth > 10 || value === null || typeof value !== 'object') return value;
    if (value instanceof Error)
      return { type: value.name, message: scrub(value.message), stack: value.stack ? scrub(value.stack) : undefined };
    if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubValue(v, depth + 1)]));
  };
  return pino({
    name: 'handoff-executor',
    level: process.env.HANDOFF_LOG_LEVEL ?? 'info',
    redact: { paths: LOG_REDACT_PATHS, censor: REDACTED },
    formatters: { log: (obj) => scrubValue(obj) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>);
      },
    },
  });
}

/**
 * `node apps/executor/main.ts [--join '<join string>']`: one executor process, for deployments and
 * for tests that need a real process to kill. A node (issue 11) runs with the join string `handoff
 * node add` printed, once; it is kept in $HANDOFF_HOME/node.json, and later starts need nothing.
 * Otherwise it needs DATABASE_URL (an executor never starts Postgres of its own; the CLI's `handoff
 * executor` resolves the embedded one first).
 */
const joinAt = process.argv.indexOf('--join');
let node: JoinedNode | null;
try {
  node = joinedNode(handoffHome(), joinAt >= 0 ? process.argv[joinAt + 1] : undefined);
} catch (err) {
  console.error(`handoff executor: ${(err as Error).message}`);
  process.exit(2);
}
const databaseUrl = node?.databaseUrl ?? process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('handoff executor: DATABASE_URL is not set (nor is this home joined as a node: --join)');
  process.exit(2);
}
let log: Logger;
try {
  log = redactingLogger(loadSecrets(handoffHome()));
} catch (err) {
  // secrets.json refused: the message names the file and the field, never a value
  console.error(`handoff executor: ${(err as Error).message}`);
  process.exit(1);
}
try {
  const executor = await startExecutor({
    home: handoffHome(),
    databaseUrl,
    log,
    // a node's executor is known by its node id, and serves the channels it was registered for
    ...(node ? { executorId: node.id, channels: node.channels } : {}),
    asNode: node !== null,
  });
  // it has said why and stopped itself: exit so that the service manager does not restart it
  void executor.refused.then((refusal) => process.exit(refusal.exitCode));
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
  process.exit(err instanceof CredentialsRefused ? err.exitCode : 1);
}
