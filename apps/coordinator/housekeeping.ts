import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { PgBoss } from 'pg-boss';
import type { RetentionPolicy } from '@handoff/contracts';
import { LOCK_HOUSEKEEPING, type Db } from '@handoff/db';

/**
 * Housekeeping (docs/operations.md "Retention"): deletes what policy.json's `retention` says is
 * old enough, in batches of BATCH rows (each its own short transaction, so no long locks), and
 * keeps pg-boss's finished tickets for `pgbossArchiveDays`. Intents, attempts and receipts are
 * never touched here: they are the record (`handoff archive` removes them, after writing them out).
 * One pass at a time across every coordinator (LOCK_HOUSEKEEPING, taken with try).
 */

export const BATCH = 1000;
/** Hourly: retention is counted in days, and a pass over nothing costs a few index probes. */
export const HOUSEKEEPING_INTERVAL_MS = 3_600_000;
/** The actor of the audit row a pass that deleted something writes. */
export const HOUSEKEEPING_ACTOR = 'system:housekeeping';

export interface HousekeepingResult {
  auditLog: number;
  agentAudit: number;
  commandApprovals: number;
  agentSessions: number;
  routerUsage: number;
  /** Ticket queues whose deleteAfterSeconds was set to the policy's. */
  queuesUpdated: number;
}

const DAY_MS = 86_400_000;

function cutoff(days: number, now: number): Date {
  return new Date(now - days * DAY_MS);
}

/** Runs `one` until it deletes fewer than a batch; a table a migration has not made yet counts 0. */
async function inBatches(one: () => Promise<number>): Promise<number> {
  let total = 0;
  try {
    for (;;) {
      const n = await one();
      total += n;
      if (n < BATCH) return total;
    }
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return total;
    throw err;
  }
}

const deleted = (r: { numAffectedRows?: bigint }): number => Number(r.numAffectedRows ?? 0n);

/**
 * What "agent audit" covers (decision 134): agent_audit (every tool call), command approvals a
 * person decided or that expired, and agent sessions that are over (their messages and events go
 * with them, ON DELETE CASCADE). A running session and a pending approval are never deleted.
 */
async function purgeAgentAudit(
  db: Db,
  before: Date,
): Promise<Pick<HousekeepingResult, 'agentAudit' | 'commandApprovals' | 'agentSessions'>> {
  const agentAudit = await inBatches(async () =>
    deleted(
      await sql`DELETE FROM agent_audit WHERE id IN
        (SELECT id FROM agent_audit WHERE ts < ${before} ORDER BY id LIMIT ${BATCH})`.execute(db),
    ),
  );
  const commandApprovals = await inBatches(async () =>
    deleted(
      await sql`DELETE FROM command_approvals WHERE id IN
        (SELECT id FROM command_approvals WHERE state <> 'pending'
          AND coalesce(decided_at, expires_at) < ${before} LIMIT ${BATCH})`.execute(db),
    ),
  );
  const agentSessions = await inBatches(async () =>
    deleted(
      await sql`DELETE FROM agent_sessions WHERE id IN
        (SELECT id FROM agent_sessions WHERE state <> 'running'
          AND coalesce(ended_at, started_at) < ${before} LIMIT ${BATCH})`.execute(db),
    ),
  );
  return { agentAudit, commandApprovals, agentSessions };
}

/**
 * pg-boss v12 has no archive table: a finished job stays in its queue's table until its queue's
 * `deleteAfterSeconds` passes, then pg-boss's own maintenance deletes it. pgbossArchiveDays is that
 * setting on every ticket queue (decision 135). Its job table's autovacuum is tuned here too, since
 * pg-boss makes the table after migrations run.
 */
async function retainTickets(db: Db, boss: PgBoss, days: number): Promise<number> {
  const seconds = Math.round(days * 86_400);
  let updated = 0;
  for (const queue of await boss.getQueues()) {
    if (!queue.name.startsWith('handoff.') || queue.deleteAfterSeconds === seconds) continue;
    await boss.updateQueue(queue.name, { deleteAfterSeconds: seconds });
    updated++;
  }
  await sql`
    DO $$ BEGIN
      IF to_regclass('pgboss.job_common') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_class
          WHERE oid = 'pgboss.job_common'::regclass AND 'autovacuum_vacuum_scale_factor=0.02' = ANY(reloptions)) THEN
        ALTER TABLE pgboss.job_common SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
      END IF;
    END $$`.execute(db);
  return updated;
}

/** One pass; null when another coordinator's pass holds the lock. */
export async function runHousekeeping(
  db: Db,
  boss: PgBoss,
  retention: RetentionPolicy,
  now: number = Date.now(),
): Promise<HousekeepingResult | null> {
  return db.connection().execute(async (conn) => {
    const lock = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${LOCK_HOUSEKEEPING}) AS ok`.execute(conn);
    if (!lock.rows[0]?.ok) return null;
    try {
      const auditLog = await inBatches(async () => {
        const { rows } = await sql<{ n: number }>`
          SELECT handoff_purge_audit_log(${cutoff(retention.auditDays, now)}, ${BATCH}) AS n`.execute(conn);
        return rows[0]?.n ?? 0;
      });
      const agent = await purgeAgentAudit(conn, cutoff(retention.agentAuditDays, now));
      // router_usage has no key (migration 007): a batch is addressed by ctid
      const routerUsage = await inBatches(async () =>
        deleted(
          await sql`DELETE FROM router_usage WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM router_usage WHERE at < ${cutoff(retention.routerUsageDays, now)} LIMIT ${BATCH}))`.execute(
            conn,
          ),
        ),
      );
      const queuesUpdated = await retainTickets(conn, boss, retention.pgbossArchiveDays);
      const result = { auditLog, ...agent, routerUsage, queuesUpdated };
      const count = auditLog + agent.agentAudit + agent.commandApprovals + agent.agentSessions + routerUsage;
      if (count > 0)
        await sql`INSERT INTO audit_log (actor, action, details)
          VALUES (${HOUSEKEEPING_ACTOR}, 'retention.purge', ${JSON.stringify({ ...result, retention })}::jsonb)`.execute(
          conn,
        );
      return result;
    } finally {
      await sql`SELECT pg_advisory_unlock(${LOCK_HOUSEKEEPING})`.execute(conn);
    }
  });
}

/** A pass now and then every interval, with the retention in force at the time; stop() waits for a pass under way. */
export function startHousekeeping(opts: {
  db: Db;
  boss: PgBoss;
  retention: () => RetentionPolicy;
  log: Logger;
  intervalMs?: number;
}): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const pass = (): void => {
    running = runHousekeeping(opts.db, opts.boss, opts.retention())
      .then((r) => {
        if (r && Object.values(r).some((n) => n > 0)) opts.log.info(r, 'housekeeping pass');
      })
      .catch((err: unknown) => opts.log.warn({ err }, 'housekeeping pass failed'));
  };
  const first = setTimeout(pass, 5_000);
  const timer = setInterval(pass, opts.intervalMs ?? HOUSEKEEPING_INTERVAL_MS);
  first.unref();
  timer.unref();
  return {
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
