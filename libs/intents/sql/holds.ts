import { sql } from 'kysely';
import { scopesCovering, type BreakerState, type Hold } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { executorAlive } from '../live.ts';

/**
 * What holds an intent of `channel:account` back from starting, for the operator who approves it or
 * looks at it: every closed gate covering it (scopesCovering, as claims check it), then every open
 * breaker a live executor reports for its `channel:account` (a webhook's breaker is per receiver,
 * `channel:account@host:port`, so each is named). Empty when nothing does.
 */
export async function holdsOn(db: Db, intent: { channel: string; account: string }): Promise<Hold[]> {
  const [gates, executors] = await Promise.all([
    db
      .selectFrom('gates')
      .select(['scope', 'reason', 'updated_at'])
      .where('enabled', '=', false)
      .where('scope', 'in', scopesCovering(intent.channel, intent.account))
      .execute(),
    db
      .selectFrom('executors')
      .select(['id', 'breakers'])
      .where('status', '<>', 'stopped')
      .where(executorAlive())
      .orderBy('id')
      .execute(),
  ]);
  const order = scopesCovering(intent.channel, intent.account);
  const holds: Hold[] = gates
    .sort((a, b) => order.indexOf(a.scope) - order.indexOf(b.scope))
    .map((g) => ({
      kind: 'gate',
      scope: g.scope,
      reason: g.reason,
      since: g.updated_at.toISOString(),
      executorId: null,
    }));
  const key = `${intent.channel}:${intent.account}`;
  for (const executor of executors) {
    for (const b of (executor.breakers ?? []) as BreakerState[]) {
      if (b.state !== 'open' || !(b.key === key || b.key.startsWith(`${key}@`))) continue;
      holds.push({
        kind: 'breaker',
        scope: b.key,
        reason: `${b.failures} failure(s) in a row`,
        since: b.openedAt,
        executorId: executor.id,
      });
    }
  }
  return holds;
}

/**
 * Whether a gate on `channel:account` names something that exists: an account a (possibly stale)
 * executor announces (`channel:*` stands for every account of a channel without credentials), or
 * one an intent was ever created for. A gate written for neither would close nothing people expect.
 */
export async function accountKnown(db: Db, channel: string, account: string): Promise<boolean> {
  const row = await sql<{ known: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM executors
      WHERE channels ? ${`${channel}:${account}`} OR channels ? ${`${channel}:*`}
    ) OR EXISTS (
      SELECT 1 FROM intents WHERE channel = ${channel} AND account = ${account}
    ) AS known`.execute(db);
  return row.rows[0]?.known === true;
}
