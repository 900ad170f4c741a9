import { sql, type RawBuilder } from 'kysely';
import type { BreakerState, ExecutorStatus, LiveReport, QueueDepth } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { readBuckets } from '@handoff/ratelimit';
import { AWAITING_APPROVAL, LEASED, QUEUED_STATES, RUNNABLE_STATES, type NEEDS_PERSON_STATES } from './stateMachine.ts';
import { iso, toGate, toReceipt } from './sql/rows.ts';
import { stateList, stateLiteral } from './sql/states.ts';

/**
 * A heartbeat older than this is stale, and its executor no longer alive (it beats every 2 s by
 * default, so a few missed beats are forgiven): /metrics counts the alive ones, the live report
 * flags the rest stale.
 */
export const HEARTBEAT_STALE_SECONDS = 15;

/** True for an `executors` row whose heartbeat is recent enough to count the executor alive. */
export function executorAlive(): RawBuilder<boolean> {
  return sql<boolean>`heartbeat_at >= clock_timestamp() - make_interval(secs => ${HEARTBEAT_STALE_SECONDS})`;
}

const LIST_LIMIT = 50;

/** The "what's live" report: one read of everything an operator needs at a glance. */
export async function buildLiveReport(db: Db): Promise<LiveReport> {
  const [gates, executors, buckets, queues, inFlight, receipts, dead, inDoubt, counts, policy] = await Promise.all([
    db.selectFrom('gates').selectAll().orderBy('scope').execute(),
    db
      .selectFrom('executors')
      .selectAll()
      .select(sql<boolean>`NOT (${executorAlive()})`.as('stale'))
      .where('heartbeat_at', '>', sql<Date>`clock_timestamp() - interval '1 day'`)
      .orderBy('id')
      .execute(),
    readBuckets(db),
    sql<{ channel: string; pending_approval: number; ready: number; scheduled: number; running: number }>`
      SELECT channel,
        count(*) FILTER (WHERE state = ${stateLiteral(AWAITING_APPROVAL)})::int AS pending_approval,
        count(*) FILTER (WHERE state IN (${stateList(RUNNABLE_STATES)}) AND (run_after IS NULL OR run_after <= clock_timestamp()))::int AS ready,
        count(*) FILTER (WHERE state IN (${stateList(RUNNABLE_STATES)}) AND run_after > clock_timestamp())::int AS scheduled,
        count(*) FILTER (WHERE state = ${stateLiteral(LEASED)})::int AS running
      FROM intents WHERE state IN (${stateList(QUEUED_STATES)})
      GROUP BY channel ORDER BY channel`.execute(db),
    db
      .selectFrom('intents')
      .select([
        'id',
        'channel',
        'account',
        'idempotency_key',
        'lease_owner',
        'lease_epoch',
        'lease_expires_at',
        'attempt_count',
      ])
      .where('state', '=', LEASED)
      .orderBy('lease_expires_at')
      .limit(LIST_LIMIT)
      .execute(),
    db
      .selectFrom('receipts as r')
      .innerJoin('intents as i', 'i.id', 'r.intent_id')
      .selectAll('r')
      .select(['i.channel', 'i.account', 'i.idempotency_key'])
      .orderBy('r.id', 'desc')
      .limit(20)
      .execute(),
    stuck(db, 'dead'),
    stuck(db, 'in_doubt'),
    sql<{ state: string; n: number }>`SELECT state, count(*)::int AS n FROM intents GROUP BY state`.execute(db),
    db
      .selectFrom('fleet_policy')
      .select(['version', 'sha256', 'published_at'])
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst(),
  ]);

  const executorStatus: ExecutorStatus[] = executors.map((e) => ({
    id: e.id,
    host: e.host,
    pid: e.pid,
    startedAt: new Date(e.started_at).toISOString(),
    heartbeatAt: new Date(e.heartbeat_at).toISOString(),
    stale: e.stale,
    status: e.status,
    channels: e.channels,
    breakers: e.breakers as BreakerState[],
    localGateEnabled: e.local_gate_enabled,
    inFlight: e.in_flight,
    version: e.handoff_version,
    schemaVersion: e.schema_version,
    policyVersion: e.policy_version,
    // the executor's clock as it sent the row, against the database's as it wrote it
    clockSkewMs:
      e.reported_clock === null ? null : new Date(e.reported_clock).getTime() - new Date(e.heartbeat_at).getTime(),
  }));
  const gateList = gates.map(toGate);
  return {
    generatedAt: new Date().toISOString(),
    policy: policy
      ? { version: policy.version, sha256: policy.sha256, publishedAt: new Date(policy.published_at).toISOString() }
      : null,
    gates: gateList,
    gatesClosed: gateList.filter((g) => !g.enabled).map((g) => g.scope),
    executors: executorStatus,
    breakers: executorStatus
      .filter((e) => !e.stale && e.status !== 'stopped')
      .flatMap((e) => e.breakers.map((b) => ({ ...b, executorId: e.id }))),
    rateLimits: buckets,
    queues: queues.rows.map((q): QueueDepth => ({
      channel: q.channel,
      pendingApproval: q.pending_approval,
      ready: q.ready,
      scheduled: q.scheduled,
      running: q.running,
    })),
    inFlight: inFlight.map((i) => ({
      id: i.id,
      channel: i.channel,
      account: i.account,
      idempotencyKey: i.idempotency_key,
      leaseOwner: i.lease_owner,
      leaseEpoch: i.lease_epoch,
      leaseExpiresAt: iso(i.lease_expires_at),
      attemptCount: i.attempt_count,
    })),
    recentReceipts: receipts.map((r) => ({
      ...toReceipt(r),
      channel: r.channel,
      account: r.account,
      idempotencyKey: r.idempotency_key,
    })),
    dead,
    inDoubt,
    counts: Object.fromEntries(counts.rows.map((c) => [c.state, c.n])),
  };
}

async function stuck(db: Db, state: (typeof NEEDS_PERSON_STATES)[number]) {
  const rows = await db
    .selectFrom('intents')
    .select(['id', 'channel', 'account', 'idempotency_key', 'last_error', 'updated_at'])
    .where('state', '=', state)
    .orderBy('updated_at', 'desc')
    .limit(LIST_LIMIT)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    channel: r.channel,
    account: r.account,
    idempotencyKey: r.idempotency_key,
    lastError: r.last_error,
    updatedAt: new Date(r.updated_at).toISOString(),
  }));
}
