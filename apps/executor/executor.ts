import { hostname } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { loadPolicy, TicketPayload, type Policy } from '@handoff/contracts';
import {
  builtInConnectors,
  createConnectorRegistry,
  createXConnector,
  protectOwnEndpoints,
  writeBackToSecretsFile,
  type Connector,
} from '@handoff/connectors';
import { credentialsRefusal, watchForRefusal, type CredentialsRefused } from './credentialsRefused.ts';
import { followFleetPolicy } from './fleetPolicy.ts';
import { GateListener } from './gateListener.ts';
import { startHeartbeat } from './heartbeat.ts';
import { watchLocalGate } from './localGate.ts';
import { createPipelineDeps, runTicketBatch, type TicketBatch } from './pipeline.ts';
import { heldKeys, loadSecrets } from './secrets.ts';
import { openExecutorStore } from './store.ts';
import { databaseSchemaVersion, expectedSchemaVersion, HANDOFF_VERSION, schemaMismatch } from './versions.ts';

export interface ExecutorOptions {
  home: string;
  databaseUrl: string;
  executorId?: string;
  log?: Logger;
  /** Serve only these channels (default: every connector this executor has). */
  channels?: string[];
  connectors?: Connector[];
  /** Tickets fetched per poll, per channel. */
  batchSize?: number;
  /** Leases whose effects may be under way at once; a full executor fetches no more tickets. */
  maxInFlight?: number;
  heartbeatIntervalMs?: number;
  sweepIntervalMs?: number;
  /** How long a graceful stop waits for in-flight effects. */
  drainTimeoutMs?: number;
  /** Joined as a node (`--join`, node.json): what a refused login tells the operator to do. */
  asNode?: boolean;
}

export interface RunningExecutor {
  id: string;
  heldKeys: string[];
  stop(): Promise<void>;
  /**
   * Settles once Postgres refused this executor's login (credentialsRefused.ts) and the executor
   * has stopped itself because of it; never otherwise. Its process should then exit with `exitCode`.
   */
  refused: Promise<CredentialsRefused>;
}

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
};

/**
 * The hands: lease -> gate -> breaker -> rate limit -> connector -> receipt, for every held channel.
 * A login Postgres refuses, at start or later, is a CredentialsRefused (credentialsRefused.ts).
 */
export async function startExecutor(opts: ExecutorOptions): Promise<RunningExecutor> {
  return run(opts).catch((err: unknown) => {
    throw credentialsRefusal(err, opts.asNode ?? false) ?? err;
  });
}

async function run(opts: ExecutorOptions): Promise<RunningExecutor> {
  const executorId = opts.executorId ?? process.env.HANDOFF_EXECUTOR_ID ?? hostname();
  const log = (opts.log ?? pino({ name: 'handoff-executor' })).child({ executorId });
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? envInt('HANDOFF_HEARTBEAT_MS') ?? 2000;
  const sweepIntervalMs = opts.sweepIntervalMs ?? envInt('HANDOFF_SWEEP_MS') ?? 2000;
  const batchSize = opts.batchSize ?? envInt('HANDOFF_EXECUTOR_BATCH') ?? 50;
  const maxInFlight = opts.maxInFlight ?? envInt('HANDOFF_MAX_IN_FLIGHT') ?? batchSize * 2;
  const drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
  const channelFilter = opts.channels ?? process.env.HANDOFF_CHANNELS?.split(',').filter(Boolean);

  // this executor's own file; what it applies is the fleet's policy (fleetPolicy.ts), narrowed by it
  const policyWatch = loadPolicy(opts.home, {
    onChange: () => log.info('policy.json reloaded'),
    onError: (message) => log.error(`policy.json refused, keeping the last good one: ${message}`),
  });
  const secrets = loadSecrets(opts.home);
  // No intent-named call may reach this executor's Postgres or the coordinator (libs/connectors addressGuard.ts).
  await protectOwnEndpoints(opts.databaseUrl).catch(() => undefined);
  // X rotates refresh tokens: the executor's X connector writes the new pair back to secrets.json
  const connectorList =
    opts.connectors ??
    builtInConnectors.map((c) =>
      c.name === 'x'
        ? (createXConnector({
            onCredentialsRefreshed: writeBackToSecretsFile(join(opts.home, 'secrets.json')),
          }) as Connector)
        : c,
    );
  const registry = createConnectorRegistry(connectorList);
  const connectors = registry.names().map((n) => registry.get(n)!);
  const keys = heldKeys(connectors, secrets, channelFilter);
  const channels = [...new Set(keys.map((k) => k.split(':')[0]!))];

  const store = await openExecutorStore({
    databaseUrl: opts.databaseUrl,
    executorId,
    poolMax: Math.max(6, Math.min(20, batchSize + 4)),
    log,
  });
  const { db, boss } = store;
  // A refused login is not an outage: say so once and stop as on shutdown (credentialsRefused.ts).
  // pg-boss's workers and the heartbeat are what meet it first once the role is gone.
  let resolveRefused: (refusal: CredentialsRefused) => void = () => undefined;
  const refused = new Promise<CredentialsRefused>((resolve) => (resolveRefused = resolve));
  let stopSelf: ((refusal: CredentialsRefused) => void) | null = null;
  let refusedEarly: CredentialsRefused | null = null;
  const refusal = watchForRefusal(opts.asNode ?? false, (r) => {
    log.error({ code: r.code }, r.message);
    if (stopSelf) stopSelf(r);
    else refusedEarly = r;
  });
  boss.on('error', (err: unknown) => void refusal.notice(err));
  const refuseToStart = async (err: unknown): Promise<never> => {
    await boss.stop({ graceful: false, close: true }).catch(() => undefined);
    await db.destroy().catch(() => undefined);
    policyWatch.close();
    throw err;
  };
  // an executor that does not suit the database's schema stops here, with one sentence saying why
  const schemaVersion = expectedSchemaVersion();
  const mismatch = schemaMismatch(schemaVersion, await databaseSchemaVersion(db).catch(refuseToStart));
  if (mismatch) await refuseToStart(new Error(mismatch));
  let beatSoon = (): void => undefined;
  const fleetPolicy = await followFleetPolicy({
    home: opts.home,
    databaseUrl: opts.databaseUrl,
    db,
    local: policyWatch,
    log,
    // the heartbeat says at once which policy version this executor now applies
    onChange: () => beatSoon(),
  }).catch(refuseToStart);
  const policy = (): Policy => fleetPolicy.current();
  const gates = new GateListener(opts.databaseUrl, log);
  await gates.start();

  let draining = false;
  const localGate = watchLocalGate(opts.home, log);

  const workerIds = new Map<string, string>();
  const wakeTimers = new Set<NodeJS.Timeout>();
  const wakeAt = (channel: string, at: Date): void => {
    const workerId = workerIds.get(channel);
    if (!workerId || draining) return;
    // one timer per moment is plenty: a woken worker fetches every ticket that is due
    const t = setTimeout(
      () => {
        wakeTimers.delete(t);
        if (!draining) boss.notifyWorker(workerId);
      },
      Math.max(0, at.getTime() - Date.now()) + 5,
    );
    t.unref();
    wakeTimers.add(t);
  };

  const deps = createPipelineDeps({
    store,
    connectors: registry,
    policy,
    secrets,
    log,
    heldKeys: keys,
    mayStart: (channel, account) => !draining && localGate.enabled() && !gates.covers(channel, account),
    draining: () => draining,
    wakeAt,
  });
  const { breakers } = deps;

  // Effects run beside the pg-boss worker, not inside its handler: the worker goes back for more
  // tickets as soon as a batch is leased, so one slow effect never holds up the rest of its channel.
  // The lease, not the ticket, is the record: a crash after the ticket is completed leaves an
  // expired lease that the sweeper re-tickets.
  const running = new Set<Promise<unknown>>();
  const handle = async (jobs: { id: string; data: unknown }[]): Promise<void> => {
    const intentIds: string[] = [];
    for (const job of jobs) {
      const ticket = TicketPayload.safeParse(job.data);
      if (ticket.success) intentIds.push(ticket.data.intentId);
      else log.error({ jobId: job.id }, 'dropping a malformed ticket');
    }
    // backpressure: take no more leases than this executor can carry
    while (running.size >= maxInFlight) await Promise.race(running);
    // locally gated: leave the intents alone; the sweeper re-tickets them for another executor
    if (intentIds.length === 0 || !localGate.enabled() || draining) return;
    let batch: TicketBatch;
    try {
      batch = await runTicketBatch(deps, intentIds);
    } catch (err) {
      if (refusal.notice(err)) return;
      // Postgres trouble: nothing was leased; the sweeper re-tickets approved intents left without a ticket
      log.error({ err, intents: intentIds.length }, 'claiming a batch of tickets failed');
      return;
    }
    // each lease counts against maxInFlight until its own run settles (runs never reject)
    for (const run of batch.runs.values()) {
      running.add(run);
      void run.finally(() => running.delete(run));
    }
  };
  const inFlight = (): number => running.size;

  for (const channel of channels) {
    const queue = await store.ensureTicketQueue(channel);
    const workerId = await boss.work(
      queue,
      {
        batchSize,
        burstWhenBatchFull: true,
        pollingIntervalSeconds: 2,
        notifyPollingIntervalSeconds: 5,
      },
      handle,
    );
    workerIds.set(channel, workerId);
  }

  const heartbeat = startHeartbeat(db, {
    executorId,
    handoffVersion: HANDOFF_VERSION,
    schemaVersion,
    intervalMs: heartbeatIntervalMs,
    log,
    onFailure: (err) => refusal.notice(err),
    snapshot: () => ({
      status: draining ? 'draining' : localGate.enabled() ? 'running' : 'paused',
      channels: keys,
      breakers: breakers.snapshot(),
      localGateEnabled: localGate.enabled(),
      inFlight: inFlight(),
      policy: fleetPolicy.applied(),
    }),
  });
  beatSoon = () => void heartbeat.beat().catch(() => undefined);
  await heartbeat.beat();

  const sweeper = setInterval(() => {
    const p = policy();
    store
      .sweep({
        eligibleGraceSeconds: 5,
        reissueSeconds: Math.max(5, p.lease.ttlSeconds),
        pendingTtlSeconds: p.approval.pendingTtlSeconds,
        batch: 1000,
      })
      .then((r) => {
        if (r && (r.expired || r.reticketed)) log.info(r, 'sweeper pass');
      })
      .catch((err: unknown) => {
        if (!refusal.notice(err)) log.warn({ err }, 'sweeper pass failed');
      });
  }, sweepIntervalMs);
  sweeper.unref();

  const applied = fleetPolicy.applied();
  log.info(
    {
      channels,
      heldKeys: keys,
      batchSize,
      handoffVersion: HANDOFF_VERSION,
      schemaVersion,
      policyVersion: applied.version,
      policySha256: applied.sha256,
    },
    'executor started',
  );

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      log.info({ inFlight: inFlight() }, 'executor draining: no new leases, in-flight effects finish');
      clearInterval(sweeper);
      for (const t of wakeTimers) clearTimeout(t);
      await heartbeat.beat().catch(() => undefined);
      // graceful: waits for handlers, which finish their effects or release their leases
      await boss
        .stop({ graceful: true, timeout: drainTimeoutMs, close: true })
        .catch((err: unknown) => log.warn({ err }, 'pg-boss stop'));
      const deadline = Date.now() + drainTimeoutMs;
      while (inFlight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      heartbeat.stop();
      await heartbeat.markStopped().catch(() => undefined);
      localGate.close();
      await fleetPolicy.close();
      policyWatch.close();
      breakers.shutdown();
      await gates.stop();
      await db.destroy();
      log.info('executor stopped');
    })();
    return stopping;
  };
  stopSelf = (r) => void stop().finally(() => resolveRefused(r));
  if (refusedEarly) stopSelf(refusedEarly);
  return { id: executorId, heldKeys: keys, stop, refused };
}
