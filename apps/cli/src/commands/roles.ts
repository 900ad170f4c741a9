import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { ResolvedDatabase as Database } from '@handoff/db';
import { parsePortOption, parseText } from '../args.ts';
import {
  DEFAULT_URL,
  coordinatorPort,
  handoffHome,
  listenAddress,
  maskDatabaseUrl,
  operatorTokenPath,
} from '../config.ts';
import { out } from '../context.ts';
import { CliError, describeError } from '../errors.ts';
import { keyValues } from '../format.ts';
import { listeningLines, prepareListening } from '../listen.ts';
import type { Listening } from '../listen.ts';

/**
 * The long-running roles: `start` (everything in one process), `coordinator`, `executor`, and the
 * one-shot `migrate`. The heavy modules are imported when a role runs, so that `handoff pending`
 * does not load Fastify, pg-boss and Postgres.
 */

interface RoleOptions {
  port?: number;
  listen?: string;
  executorId?: string;
  join?: string;
}

const SECRETS_NOTE =
  'Production runs executors as their own OS user or host (`handoff executor`, see deploy/): connector secrets then never sit beside the coordinator.';

export function registerRoleCommands(program: Command): void {
  const portOption = (): Option =>
    new Option('--port <port>', 'coordinator port (default $HANDOFF_PORT or 18800; 0 picks a free one)').argParser(
      parsePortOption,
    );
  const listenOption = (): Option =>
    new Option(
      '--listen <addr>',
      'serve beyond loopback: HTTPS only on this address, and the embedded Postgres there with TLS and a password (default $HANDOFF_LISTEN; unset: 127.0.0.1, plain HTTP)',
    );
  const executorIdOption = (): Option =>
    new Option('--executor-id <id>', 'executor id (default $HANDOFF_EXECUTOR_ID or the host name)').argParser(
      parseText,
    );

  program
    .command('start')
    .description('all-in-one: Postgres (embedded unless DATABASE_URL is set), the coordinator and one executor')
    .addOption(portOption())
    .addOption(listenOption())
    .addOption(executorIdOption())
    .action((options: RoleOptions) => runRoles({ coordinator: true, executor: true }, options));

  program
    .command('coordinator')
    .description('run the coordinator only (HTTP API, approvals, gates, console)')
    .addOption(portOption())
    .addOption(listenOption())
    .action((options: RoleOptions) => runRoles({ coordinator: true, executor: false }, options));

  program
    .command('executor')
    .description('run one executor only: it leases approved intents and performs them with its own credentials')
    .addOption(executorIdOption())
    .addOption(
      new Option('--join <string>', 'join as a node: the string `handoff node add` printed (kept in node.json)'),
    )
    .action((options: RoleOptions) => runRoles({ coordinator: false, executor: true }, options));

  program
    .command('migrate')
    .description('apply pending database migrations and print what was applied')
    .action(runMigrate);
}

/** Started services, stopped in reverse order: executor, coordinator, Postgres. */
class Services {
  readonly #started: { name: string; stop: () => Promise<void> }[] = [];
  #stopping: Promise<void> | undefined;
  stopRequested = false;
  readonly #log: Logger;
  readonly #verbose: boolean;

  constructor(log: Logger, verbose: boolean) {
    this.#log = log;
    this.#verbose = verbose;
  }

  add(name: string, stop: () => Promise<void>): void {
    this.#started.push({ name, stop });
  }

  stopAll(): Promise<void> {
    this.stopRequested = true;
    this.#stopping ??= (async () => {
      for (let item = this.#started.pop(); item; item = this.#started.pop()) {
        if (this.#verbose) out(`stopping ${item.name}...`);
        try {
          await item.stop();
        } catch (err) {
          this.#log.error({ err }, `stopping ${item.name} failed`);
          out(describeError(err, `stopping ${item.name}`).line);
        }
      }
    })();
    return this.#stopping;
  }
}

/** pino is loaded only by the commands that log, to keep `handoff pending` quick to start. */
async function logger(role: string): Promise<Logger> {
  const { createLogger } = await import('../log.ts');
  return createLogger(role);
}

function prepareHome(): string {
  const home = handoffHome();
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CliError(`cannot create HANDOFF_HOME ${home}: ${(err as Error).message}`);
  }
  return home;
}

async function step<T>(name: string, run: () => Promise<T>, databaseUrl?: string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw startupFailure(name, err, databaseUrl);
  }
}

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ECONNRESET: 'connection reset',
};

const POSTGRES_REFUSALS: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000': 'the role may not log in',
  '3D000': 'the database does not exist',
  '42501': 'permission denied',
  '57P03': 'the server is starting up or shutting down',
  '53300': 'too many connections',
};

/** What went wrong while starting, in one line, naming the step; database trouble names the (masked) URL. */
function startupFailure(name: string, err: unknown, databaseUrl?: string): CliError {
  if (err instanceof CliError) return err;
  const code = errorCode(err);
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  if (code === 'EADDRINUSE') {
    return new CliError(
      `${name}: the port is already in use (${message}). Is handoff already running? Pick another with --port or HANDOFF_PORT.`,
    );
  }
  const unreachable = code ? UNREACHABLE[code] : undefined;
  const refused = code ? POSTGRES_REFUSALS[code] : undefined;
  const where = databaseUrl
    ? ` at ${maskDatabaseUrl(databaseUrl)}`
    : process.env.DATABASE_URL
      ? ` at ${maskDatabaseUrl(process.env.DATABASE_URL)}`
      : '';
  if (unreachable) {
    return new CliError(
      `${name}: cannot reach Postgres${where} (${unreachable}). Check DATABASE_URL, or unset it to use the embedded Postgres.`,
    );
  }
  if (refused) return new CliError(`${name}: Postgres${where} refused: ${refused} (${message}).`);
  return new CliError(`${name} could not start: ${message}`);
}

function errorCode(err: unknown): string | undefined {
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 5; depth += 1) {
    const candidate = current as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof candidate.code === 'string') return candidate.code;
    current = candidate.cause ?? (Array.isArray(candidate.errors) ? candidate.errors[0] : undefined);
  }
  return undefined;
}

/** How long the roles get to stop once the embedded Postgres is lost, before the process exits anyway. */
const LOST_STOP_TIMEOUT_MS = 10_000;

/**
 * The embedded Postgres died and its supervisor could not bring it back: stop what can be stopped
 * (briefly: nothing can write a receipt now) and exit 1, so that launchd or systemd restarts the
 * whole process, rather than stay up answering 503. Work in flight is reconciled after the restart.
 */
function exitWhenPostgresIsLost(log: Logger, services: Services): (err: Error) => void {
  return (err) => {
    log.fatal({ err }, 'embedded Postgres lost');
    process.stderr.write(
      `handoff: ${err.message}; exiting with status 1 so that the service manager restarts handoff.\n`,
    );
    const timer = setTimeout(() => process.exit(1), LOST_STOP_TIMEOUT_MS);
    timer.unref();
    void services.stopAll().finally(() => process.exit(1));
  };
}

async function resolveDb(
  home: string,
  log: Logger,
  services: Services,
  supervise: boolean,
  listening?: Listening,
): Promise<Database> {
  const { resolveDatabase } = await import('@handoff/db');
  const onLost = supervise ? exitWhenPostgresIsLost(log, services) : undefined;
  const listen = listening && { address: listening.address, cert: listening.tls.cert, key: listening.tls.key };
  const db: Database = await step('postgres', () => resolveDatabase({ home, log, onLost, listen }));
  // An external DATABASE_URL is not ours to stop; the embedded server is.
  if (db.embedded) services.add('postgres', () => db.stop());
  return db;
}

function describeDatabase(db: Database, home: string, listening?: Listening): string {
  if (!db.embedded) return `${maskDatabaseUrl(db.url)} (DATABASE_URL)`;
  const where = listening ? `127.0.0.1, and ${listening.address} with TLS and a password only` : '127.0.0.1 only';
  return `embedded, data in ${join(home, 'pg')} (${maskDatabaseUrl(db.url)}), ${where}`;
}

/** The console's one-time sign-in link for the operator token; without one, where to sign in by hand. */
async function consoleSignIn(coordinatorUrl: string, databaseUrl: string, tokenFile: string): Promise<string> {
  try {
    const { createSignInLink } = await import('@handoff/coordinator');
    const link = await createSignInLink({ databaseUrl, tokenFile, baseUrl: coordinatorUrl });
    return `${link.url}  (signs in once, within 5 minutes)`;
  } catch {
    return `${coordinatorUrl}/console/  (sign in with the operator token)`;
  }
}

async function runRoles(roles: { coordinator: boolean; executor: boolean }, options: RoleOptions): Promise<void> {
  const home = prepareHome();
  const port = coordinatorPort(options.port);
  const listen = roles.coordinator ? listenAddress(options.listen) : undefined;
  const executorId = options.executorId ?? (process.env.HANDOFF_EXECUTOR_ID?.trim() || undefined);
  const log = await logger(
    roles.coordinator && roles.executor ? 'all' : roles.coordinator ? 'coordinator' : 'executor',
  );
  const services = new Services(log, true);

  let firstSignalAt = 0;
  let ready = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = Date.now();
    if (firstSignalAt !== 0) {
      // The same signal delivered twice (to the process group and forwarded by a launcher) is one request.
      if (now - firstSignalAt < 1000) return;
      process.stderr.write(`handoff: ${signal} again, exiting without waiting for a clean stop.\n`);
      process.exit(1);
    }
    firstSignalAt = now;
    out(`\n${signal}: stopping (press Ctrl-C again to force)...`);
    services.stopRequested = true;
    // During start-up the start sequence notices the request after its current step.
    if (ready) void shutdown();
  };
  const shutdown = async (): Promise<void> => {
    await services.stopAll();
    out('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  try {
    const listening = listen ? await prepareListening(listen, home, log) : undefined;
    // a node (`--join`, or node.json from an earlier join) runs as its own role on the primary's Postgres
    const node = roles.coordinator ? null : await joinedNode(home, options.join);
    const db = node
      ? { url: node.databaseUrl, embedded: false, stop: async () => {} }
      : await resolveDb(home, log, services, true, listening);
    const lines: [string, string | undefined][] = [];
    let coordinatorUrl: string | undefined;
    let agentWarning: string | null = null;
    let tokenPath = operatorTokenPath();

    if (roles.coordinator && !services.stopRequested) {
      const { startCoordinator } = await import('@handoff/coordinator');
      const coordinator = await step(
        'coordinator',
        () =>
          startCoordinator({
            home,
            databaseUrl: db.url,
            port,
            log,
            ...(listening ? { host: listening.address, tls: listening.tls } : {}),
          }),
        db.url,
      );
      services.add('coordinator', () => coordinator.close());
      coordinatorUrl = coordinator.url.replace(/\/+$/, '');
      tokenPath = coordinator.operatorTokenPath;
      agentWarning = coordinator.agentWarning;
    }
    let executor: { id: string; heldKeys?: string[] } | undefined;
    if (roles.executor && !services.stopRequested) {
      const { startExecutor, CredentialsRefused } = await import('@handoff/executor');
      const started = await step(
        'executor',
        () =>
          startExecutor({
            home,
            databaseUrl: db.url,
            executorId: node?.id ?? executorId,
            log,
            ...(node ? { channels: node.channels } : {}),
            asNode: node !== null,
          }).catch((err: unknown) => {
            // a refused login: its own sentence and exit status (decision 141), not a generic refusal
            throw err instanceof CredentialsRefused ? new CliError(`executor: ${err.message}`, err.exitCode) : err;
          }),
        db.url,
      );
      services.add(`executor ${started.id}`, () => started.stop());
      // refused later: the executor said why and stopped itself; the rest stops and the status tells the service manager
      void started.refused.then((refusal) => services.stopAll().finally(() => process.exit(refusal.exitCode)));
      executor = started;
    }
    if (services.stopRequested) return await shutdown();

    if (coordinatorUrl) {
      lines.push(['coordinator', coordinatorUrl]);
      lines.push(['console', await consoleSignIn(coordinatorUrl, db.url, tokenPath)]);
      lines.push([
        'operator token',
        existsSync(tokenPath)
          ? `${tokenPath} (mode 0600; the CLI reads it when HANDOFF_TOKEN is unset)`
          : `${tokenPath} (not written)`,
      ]);
    }
    if (listening) lines.push(...listeningLines(listening));
    lines.push(['postgres', describeDatabase(db, home, listening)]);
    lines.push(['HANDOFF_HOME', home]);
    if (executor) {
      lines.push(['executor', roles.coordinator ? `${executor.id} (in this process, for convenience)` : executor.id]);
      const held = executor.heldKeys ?? [];
      lines.push([
        'executor holds',
        held.length > 0 ? held.join(', ') : 'no credentials: it leases nothing (see secrets.json)',
      ]);
    }

    const what =
      roles.coordinator && roles.executor
        ? 'handoff is running'
        : roles.coordinator
          ? 'handoff coordinator is running'
          : 'handoff executor is running';
    out(`\n${what}.\n\n`);
    out(keyValues(lines, '  '));
    if (roles.coordinator) {
      // Another shell needs the same address and home (for the token) to talk to this coordinator.
      const prefix = [
        coordinatorUrl && coordinatorUrl !== DEFAULT_URL ? `HANDOFF_URL=${coordinatorUrl}` : '',
        listening ? `HANDOFF_CA=${listening.tls.caFile}` : '',
        process.env.HANDOFF_HOME?.trim() ? `HANDOFF_HOME=${home}` : '',
      ].filter(Boolean);
      const cli = [...prefix, 'handoff'].join(' ');
      const order = roles.executor
        ? 'the executor finishes what is in flight, then the coordinator and Postgres stop'
        : 'the coordinator, then Postgres (when embedded) stop';
      out(`\nTry \`${cli} live\` or \`${cli} pending\`. Stop with Ctrl-C: ${order}.`);
      if (listening && coordinatorUrl) {
        out(
          `From another machine: \`handoff login ${coordinatorUrl} --token <token> --fingerprint ${listening.tls.caFingerprint}\`.`,
        );
      }
    }
    // at every start, where the person starting handoff reads it (the log says it too)
    if (agentWarning) out(`\nWARNING agent sandbox: ${agentWarning}`);
    if (roles.executor && roles.coordinator) out(SECRETS_NOTE);
    else if (roles.executor) out('Stop with Ctrl-C: no new leases; effects in flight finish and get receipts.');
    out('');
    ready = true;
    // a signal that came during the last awaited steps (the console link) found ready false: act on it now
    if (services.stopRequested) await shutdown();
  } catch (err) {
    await services.stopAll();
    throw err;
  }
}

async function runMigrate(): Promise<void> {
  const home = prepareHome();
  const log = await logger('migrate');
  const services = new Services(log, false);
  try {
    const db = await resolveDb(home, log, services, false);
    const { createPool, migrate } = await import('@handoff/db');
    const pool = createPool(db.url);
    services.add('pool', () => pool.end());
    const { applied } = await step('migrate', () => migrate(pool), db.url);
    out(`database: ${describeDatabase(db, home)}`);
    if (applied.length === 0) out('Already up to date: no migration to apply.');
    else
      out(
        `Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}:\n${applied.map((name) => `  ${name}`).join('\n')}`,
      );
  } finally {
    await services.stopAll();
  }
}

/** This home's node identity (`--join`, or node.json), a bad join string or node.json being one line, not an internal error. */
async function joinedNode(home: string, joinString: string | undefined) {
  const nodes = await import('@handoff/nodes');
  try {
    return nodes.joinedNode(home, joinString);
  } catch (err) {
    if (err instanceof nodes.InvalidJoinString || err instanceof nodes.InvalidNodeFile) throw new CliError(err.message);
    throw err;
  }
}
