import { sql } from 'kysely';
import type { DoctorCheck } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { isMissingTable, line, missingTable } from './check.ts';

/** An approval waiting longer than this has been forgotten, not considered. */
export const STALE_APPROVAL_HOURS = 24;

/** Intents and command approvals that wait for a person: in doubt, dead, approvals older than a day. */
export async function intentChecks(db: Db): Promise<DoctorCheck[]> {
  const { rows } = await sql<{ in_doubt: number; dead: number; old_pending: number }>`
    SELECT count(*) FILTER (WHERE state = 'in_doubt')::int AS in_doubt,
      count(*) FILTER (WHERE state = 'dead')::int AS dead,
      count(*) FILTER (WHERE state = 'pending_approval'
        AND created_at < clock_timestamp() - make_interval(hours => ${STALE_APPROVAL_HOURS}))::int AS old_pending
    FROM intents WHERE state IN ('in_doubt', 'dead', 'pending_approval')`.execute(db);
  const counts = rows[0] ?? { in_doubt: 0, dead: 0, old_pending: 0 };
  const checks = [
    counts.in_doubt === 0
      ? line('in doubt', 'ok', 'no intent is in doubt')
      : line(
          'in doubt',
          'warn',
          `${counts.in_doubt} intent(s) in doubt: the effect may or may not have happened`,
          'see them in `handoff live`; check the provider, then `handoff resolve <id> --external-id X` or `handoff retry <id>`',
        ),
    counts.dead === 0
      ? line('dead', 'ok', 'no dead intent')
      : line(
          'dead',
          'warn',
          `${counts.dead} dead intent(s): they failed for good`,
          'read the error in `handoff show <id>`; `handoff retry <id>` once the cause is fixed',
        ),
  ];
  let oldCommands = 0;
  try {
    const cmd = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM command_approvals WHERE state = 'pending'
        AND requested_at < clock_timestamp() - make_interval(hours => ${STALE_APPROVAL_HOURS})
        AND expires_at > clock_timestamp()`.execute(db);
    oldCommands = cmd.rows[0]?.n ?? 0;
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    checks.push(missingTable('pending approvals', 'command_approvals'));
  }
  const old = counts.old_pending + oldCommands;
  checks.push(
    old === 0
      ? line('pending approvals', 'ok', `no approval has waited more than ${STALE_APPROVAL_HOURS} h`)
      : line(
          'pending approvals',
          'warn',
          `${counts.old_pending} intent(s) and ${oldCommands} agent command(s) have waited for approval more than ${STALE_APPROVAL_HOURS} h`,
          '`handoff pending` lists them: approve or reject each (the console does several at once)',
        ),
  );
  return checks;
}
