import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import { loadPolicy } from '@handoff/contracts';
import type { ConfigWatcher, Policy } from '@handoff/contracts';
import { createConnectorRegistry } from '@handoff/connectors';
import { createAgentService } from '@handoff/agent';
import type { AgentService } from '@handoff/agent';
import { createDb, createPool, migrate, pgErrorFields } from '@handoff/db';
import type { Db } from '@handoff/db';
import { createIntentService, policySource, publishPolicy, startBoss } from '@handoff/intents';
import { configureBuckets } from '@handoff/ratelimit';
import { createRouter, createUsageLog, loadFleet, openNodeStateStore } from '@handoff/router';
import type { Router } from '@handoff/router';
import type { FleetConfig } from '@handoff/contracts';
import { ensureOperatorToken } from './auth.ts';
import { createLogger } from './logger.ts';
import { buildServer } from './server.ts';
import { createNotifier, type Notifier } from './notifier/notifier.ts';
import { startHousekeeping } from './housekeeping.ts';
import { startBackupSchedule } from '@handoff/backup';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 18800;

export interface StartCoordinatorOptions {
  /** $HANDOFF_HOME: policy.json is read from here and operator.token written here. */
  home: string;
  databaseUrl: string;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * `--listen`: serve HTTPS only, with this certificate (PEM, chain included) and key; without it
   * the API is plain HTTP (which the CLI binds to 127.0.0.1 only).
   */
  tls?: { cert: string; key: string };
  /** Default $HANDOFF_PORT, else 18800; 0 picks a free port. */
  port?: number;
  log?: Logger;
  /** agent.json polling interval in ms (tests use a short one); default 1000. */
  configIntervalMs?: number;
}

/** A coordinator wired up but not listening: tests drive `app` with `app.inject`. */
export interface BuiltCoordinator {
  app: FastifyInstance;
  /** `${home}/operator.token` */
  operatorTokenPath: string;
  /** Why the agent's commands run weaker than a sandbox (isolation none, shared network) or are refused; null when they do not. */
  agentWarning: string | null;
  /**
   * Starts the notifier once the server listens at `url`: its messages link to `url`/console/ unless
   * policy.json's notify.consoleUrl says where operators reach the console.
   */
  startNotifier(url: string): void;
  /** Stops the HTTP server, then pg-boss, then the pool, then the file watchers. Safe to call twice. */
  close(): Promise<void>;
}

export interface RunningCoordinator {
  /** e.g. `http://127.0.0.1:18800`, `https://10.0.0.5:18800` with tls (the real port when 0 was asked for). */
  url: string;
  /** `${home}/operator.token` */
  operatorTokenPath: string;
  /** Why the agent's commands run weaker than a sandbox (isolation none, shared network) or are refused; null when they do not. */
  agentWarning: string | null;
  /** Stops the HTTP server, then pg-boss, then the pool, then the file watchers. Safe to call twice. */
  close(): Promise<void>;
}

export function resolvePort(port: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  if (port !== undefined) return port;
  const fromEnv = env['HANDOFF_PORT'];
  if (fromEnv === undefined || fromEnv === '') return DEFAULT_PORT;
  const parsed = Number(fromEnv);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) {
    throw new Error(`HANDOFF_PORT must be a port number (0-65535), got ${JSON.stringify(fromEnv)}`);
  }
  return parsed;
}

function urlFor(host: string, port: number, tls: boolean): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${tls ? 'https' : 'http'}://${h}:${port}`;
}

/** policy.json into Postgres for every executor (decision 89): a new version only when it changed. */
async function publishToFleet(db: Db, policy: Policy, home: string, log: Logger): Promise<void> {
  const p = await publishPolicy(db, policy, policySource(home));
  if (p.published)
    log.info({ policyVersion: p.version, sha256: p.sha256 }, `policy v${p.version} published to the fleet`);
}

async function applyRateLimits(db: Db, policy: Policy, log: Logger): Promise<void> {
  await configureBuckets(db, policy.rateLimits);
  log.info({ buckets: Object.keys(policy.rateLimits) }, 'rate limits applied');
}

/** Runs one coordinator: buildCoordinator, then listens. */
export async function startCoordinator(opts: StartCoordinatorOptions): Promise<RunningCoordinator> {
  const log = opts.log ?? createLogger();
  const host = opts.host ?? DEFAULT_HOST;
  const port = resolvePort(opts.port);
  const built = await buildCoordinator({ ...opts, host, log });
  try {
    await built.app.listen({ host, port });
  } catch (err) {
    await built.close();
    throw err;
  }
  const address = built.app.server.address() as AddressInfo;
  const url = urlFor(host, address.port, opts.tls !== undefined);
  log.info({ url }, 'coordinator listening');
  built.startNotifier(url);
  return { url, operatorTokenPath: built.operatorTokenPath, agentWarning: built.agentWarning, close: built.close };
}

/**
 * One coordinator, ready but not listening: migrates the database, loads policy.json (and follows
 * its changes), applies the rate limits, starts pg-boss and the intent service, makes sure an
 * operator token exists, and builds the HTTP server. Anything that fails on the way is undone
 * before the error is rethrown.
 */
export async function buildCoordinator(opts: Omit<StartCoordinatorOptions, 'port'>): Promise<BuiltCoordinator> {
  const log = opts.log ?? createLogger();
  const host = opts.host ?? DEFAULT_HOST;
  await mkdir(opts.home, { recursive: true, mode: 0o700 });

  const pool = createPool(opts.databaseUrl, {
    applicationName: 'handoff-coordinator',
    onError: (err) => log.warn({ err: pgErrorFields(err) }, 'idle Postgres connection failed'),
  });
  const db = createDb(pool);
  let boss: PgBoss | null = null;
  let app: FastifyInstance | null = null;
  let policy: ConfigWatcher<Policy> | null = null;
  let fleet: ConfigWatcher<FleetConfig> | null = null;
  let router: Router | null = null;
  let agent: AgentService | null = null;
  let notifier: Notifier | null = null;
  let backups: { stop(): Promise<void> } | null = null;
  let housekeeping: { stop(): Promise<void> } | null = null;

  const stopAll = async (): Promise<void> => {
    const steps: [string, () => Promise<void>][] = [
      // First: stopping the agent's runs ends their SSE streams, which the http server would wait for.
      ['agent loop', async () => void (await agent?.close())],
      ['notifier', async () => void (await notifier?.stop())],
      ['backup schedule', async () => void (await backups?.stop())],
      ['housekeeping', async () => void (await housekeeping?.stop())],
      ['http server', async () => void (await app?.close())],
      ['model router', async () => void (await router?.close())],
      ['pg-boss', async () => void (await boss?.stop({ graceful: true, close: true, timeout: 10_000 }))],
      ['database pool', async () => void (await db.destroy())],
      ['policy watcher', async () => policy?.close()],
      ['nodes.json watcher', async () => fleet?.close()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        log.warn({ err }, `stopping the ${name} failed`);
      }
    }
  };

  try {
    await migrate(pool, { log: (msg) => log.info(msg) });

    const watcher = loadPolicy(opts.home, {
      onChange: (next) => {
        log.info('policy.json changed; new policy in force');
        applyRateLimits(db, next, log).catch((err: unknown) =>
          log.error({ err }, 'could not apply the rate limits of the new policy.json'),
        );
        publishToFleet(db, next, opts.home, log).catch((err: unknown) =>
          log.error({ err }, 'could not publish the new policy.json to the executors'),
        );
      },
      onError: (message) =>
        log.warn({ file: 'policy.json' }, `policy.json refused, the last good policy stays: ${message}`),
    });
    policy = watcher;
    await applyRateLimits(db, watcher.current(), log);
    await publishToFleet(db, watcher.current(), opts.home, log);

    boss = await startBoss(opts.databaseUrl, { log });
    // policy.json `backup`: one backup per `every` across all coordinators (libs/backup/schedule.ts)
    backups = await startBackupSchedule({
      boss,
      pool,
      url: opts.databaseUrl,
      home: opts.home,
      policy: () => watcher.current().backup,
      log,
    });
    // policy.json `retention`: hourly, one pass across all coordinators (housekeeping.ts)
    housekeeping = startHousekeeping({ db, boss, retention: () => watcher.current().retention, log });
    const intents = createIntentService({
      db,
      boss,
      connectors: createConnectorRegistry(),
      policy: () => watcher.current(),
      log,
    });

    const operator = await ensureOperatorToken(db, opts.home);
    if (operator.created) log.info({ file: operator.path }, 'wrote a new operator token');

    const fleetWatcher = loadFleet(opts.home, {
      onChange: (next) => log.info({ nodes: next.nodes.map((n) => n.id) }, 'nodes.json changed; new fleet in force'),
      onError: (message) =>
        log.warn({ file: 'nodes.json' }, `nodes.json refused, the last good fleet stays: ${message}`),
    });
    fleet = fleetWatcher;
    router = createRouter({
      fleet: () => fleetWatcher.current(),
      log,
      nodeState: await openNodeStateStore(db, { log }),
      usage: createUsageLog(db, { log }),
    });

    agent = await createAgentService({
      router,
      intents,
      db,
      home: opts.home,
      log,
      configIntervalMs: opts.configIntervalMs,
    });

    app = await buildServer({
      db,
      intents,
      log,
      home: opts.home,
      bindHost: host,
      https: opts.tls,
      router,
      agent,
      requestLimits: () => watcher.current().requests,
      policy: () => watcher.current(),
    });

    let listeningAt = '';
    const notices = createNotifier({
      db,
      intents,
      policy: () => watcher.current(),
      consoleUrl: () => `${listeningAt}/console/`,
      log,
    });
    notifier = notices;

    let closing: Promise<void> | null = null;
    return {
      app,
      operatorTokenPath: operator.path,
      agentWarning: agent.health().isolationWarning,
      startNotifier(url) {
        listeningAt = url;
        notices.start();
      },
      close: () => (closing ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
