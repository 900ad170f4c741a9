/**
 * Housekeeping on a real database with a real pg-boss: policy.json's retention deletes only what is
 * older than each window, in batches, leaves what a person may still need (a running session, a
 * pending approval), keeps finished tickets for pgbossArchiveDays, and runs one pass at a time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { PgBoss } from 'pg-boss';
import { RetentionPolicy } from '@handoff/contracts';
import { runHousekeeping, HOUSEKEEPING_ACTOR } from '@handoff/coordinator';
import { LOCK_HOUSEKEEPING } from '@handoff/db';
import { ensureTicketQueue, startBoss } from '@handoff/intents';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const databaseUrl = process.env.DATABASE_URL;
const DAY = 86_400_000;

describe('housekeeping', { skip: databaseUrl ? false : 'needs DATABASE_URL (run it through `npm test`)' }, () => {
  let tdb: TestDatabase;
  let boss: PgBoss;
  const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> =>
    (await tdb.pool.query<T>(text, params)).rows;
  const ago = (days: number): Date => new Date(Date.now() - days * DAY);

  before(async () => {
    tdb = await createTestDatabase();
    boss = await startBoss(tdb.url, { supervise: false });
    await ensureTicketQueue(boss, 'webhook');
  });

  after(async () => {
    await boss?.stop({ graceful: false, close: true });
    await tdb?.drop();
  });

  test('retention deletes only what is older than its window, and says so in the audit log', async () => {
    // 2500 old audit rows: three batches
    await q(
      `INSERT INTO audit_log (actor, action, created_at)
       SELECT 'operator:x', 'gate.close', $1::timestamptz FROM generate_series(1, 2500)`,
      [ago(100)],
    );
    await q(
      `INSERT INTO audit_log (actor, action, target, created_at) VALUES ('operator:x', 'gate.open', 'young', $1)`,
      [ago(80)],
    );
    for (const [session, days] of [
      ['old', 100],
      ['young', 10],
    ] as const)
      await q(
        `INSERT INTO agent_audit (ts, session_id, tool_call_id, tool_name, args, duration_ms, blocked)
         VALUES ($1, $2, 'c1', 'bash', '{}', 1, false)`,
        [ago(days), session],
      );
    const approval = (state: string, requested: Date, decided: Date | null, expires: Date) =>
      q<{ id: string }>(
        `INSERT INTO command_approvals (session_id, command, cwd, command_hash, state, rule, reason, requested_at, expires_at, decided_at)
         VALUES ('s', 'ls', '/', 'h', $1, 'r', 'why', $2, $3, $4) RETURNING id`,
        [state, requested, expires, decided],
      ).then((r) => r[0]!.id);
    const oldDecided = await approval('approved', ago(120), ago(119), ago(118));
    const oldExpired = await approval('expired', ago(120), null, ago(119));
    const oldPending = await approval('pending', ago(120), null, new Date(Date.now() + DAY));
    const youngDecided = await approval('rejected', ago(5), ago(5), ago(4));
    const session = (id: string, state: string, started: Date, ended: Date | null) =>
      q(
        `INSERT INTO agent_sessions (id, task, model, current_model, working_dir, max_turns, actor, owner_token_id, state, started_at, ended_at)
         VALUES ($1, 't', 'm', 'm', '/w', 5, 'agent:a', 'a', $2, $3, $4)`,
        [id, state, started, ended],
      );
    const oldDone = '00000000-0000-4000-8000-000000000001';
    const oldRunning = '00000000-0000-4000-8000-000000000002';
    const youngDone = '00000000-0000-4000-8000-000000000003';
    await session(oldDone, 'done', ago(200), ago(199));
    await session(oldRunning, 'running', ago(200), null);
    await session(youngDone, 'done', ago(3), ago(3));
    await q(`INSERT INTO agent_session_events (session_id, type, body) VALUES ($1, 'done', '{}'), ($2, 'done', '{}')`, [
      oldDone,
      youngDone,
    ]);
    await q(
      `INSERT INTO router_usage (at, model_asked, total_ms, status) VALUES ($1, 'm', 1, 'ok'), ($2, 'm', 1, 'ok')`,
      [ago(31), ago(29)],
    );

    const result = await runHousekeeping(tdb.db, boss, RetentionPolicy.parse({}));
    assert.deepEqual(result, {
      auditLog: 2500,
      agentAudit: 1,
      commandApprovals: 2,
      agentSessions: 1,
      routerUsage: 1,
      queuesUpdated: 1,
    });

    const audit = await q<{ actor: string; action: string; target: string | null }>(
      `SELECT actor, action, target FROM audit_log ORDER BY id`,
    );
    assert.deepEqual(audit, [
      { actor: 'operator:x', action: 'gate.open', target: 'young' },
      { actor: HOUSEKEEPING_ACTOR, action: 'retention.purge', target: null },
    ]);
    assert.deepEqual(
      (await q<{ session_id: string }>(`SELECT session_id FROM agent_audit`)).map((r) => r.session_id),
      ['young'],
    );
    assert.deepEqual(
      (await q<{ id: string }>(`SELECT id FROM command_approvals ORDER BY requested_at, id`)).map((r) => r.id).sort(),
      [oldPending, youngDecided].sort(),
      `${oldDecided} (decided) and ${oldExpired} (expired) are gone`,
    );
    assert.deepEqual(
      (await q<{ id: string }>(`SELECT id FROM agent_sessions ORDER BY id`)).map((r) => r.id),
      [oldRunning, youngDone],
    );
    assert.deepEqual(
      (await q<{ session_id: string }>(`SELECT session_id FROM agent_session_events`)).map((r) => r.session_id),
      [youngDone],
    );
    assert.equal((await q(`SELECT 1 FROM router_usage`)).length, 1);
  });

  test('pgbossArchiveDays is every ticket queue deleteAfterSeconds, and a shorter audit window is honoured', async () => {
    await q(`INSERT INTO audit_log (actor, action, created_at) VALUES ('operator:x', 'gate.close', $1)`, [ago(2)]);
    const result = await runHousekeeping(tdb.db, boss, RetentionPolicy.parse({ auditDays: 1, pgbossArchiveDays: 2 }));
    assert.equal(result?.queuesUpdated, 1);
    assert.equal(result?.auditLog, 2, 'the 80-day-old row and the 2-day-old row');
    const queue = await boss.getQueue('handoff.intents.webhook');
    assert.equal(queue?.deleteAfterSeconds, 2 * 86_400);
    const again = await runHousekeeping(tdb.db, boss, RetentionPolicy.parse({ auditDays: 1, pgbossArchiveDays: 2 }));
    assert.equal(again?.queuesUpdated, 0, 'a queue already set is left alone');
  });

  test('a pass while another holds the housekeeping lock does nothing', async () => {
    const other = new pg.Client({ connectionString: tdb.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [LOCK_HOUSEKEEPING]);
      await q(`INSERT INTO audit_log (actor, action, created_at) VALUES ('operator:x', 'gate.close', $1)`, [ago(200)]);
      assert.equal(await runHousekeeping(tdb.db, boss, RetentionPolicy.parse({})), null);
      assert.equal((await q(`SELECT 1 FROM audit_log WHERE created_at < $1`, [ago(150)])).length, 1);
    } finally {
      await other.end();
    }
  });

  test('retention days below the minimum are refused naming the field', () => {
    const parsed = RetentionPolicy.safeParse({ auditDays: 0 });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ['auditDays']);
  });
});
