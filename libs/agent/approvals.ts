import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { ApiError, idPrefixRange, pageUnderByteCap } from '@handoff/contracts';
import type {
  CommandApproval,
  CommandApprovalList,
  CommandApprovalState,
  ListCommandApprovalsQuery,
} from '@handoff/contracts';
import type { Db } from '@handoff/db';

/**
 * Command approvals: the exec guard's `ask`. A row is bound to one exact command in one working
 * directory (command_hash = sha256(cwd NUL command)); a person approves or rejects it with the same
 * `handoff approve` / `handoff reject` as intents, and a row nobody decides on expires, which means
 * deny. The loop waits by polling the row, and an in-process notification wakes it at once when the
 * decision comes through this coordinator.
 */
export function commandHash(cwd: string, command: string): string {
  return createHash('sha256').update(`${cwd}\0${command}`).digest('hex');
}

type Row = {
  id: string;
  session_id: string;
  command: string;
  cwd: string;
  command_hash: string;
  state: CommandApprovalState;
  rule: string;
  reason: string;
  requested_at: Date;
  expires_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  decision_reason: string | null;
};

function toApproval(r: Row): CommandApproval {
  return {
    id: r.id,
    sessionId: r.session_id,
    command: r.command,
    cwd: r.cwd,
    commandHash: r.command_hash,
    state: r.state,
    rule: r.rule,
    reason: r.reason,
    requestedAt: r.requested_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    decidedAt: r.decided_at?.toISOString() ?? null,
    decidedBy: r.decided_by,
    decisionReason: r.decision_reason,
  };
}

export interface CommandApprovals {
  request(entry: {
    sessionId: string;
    command: string;
    cwd: string;
    rule: string;
    reason: string;
    timeoutMs: number;
  }): Promise<CommandApproval>;
  /** Resolves with the final row: approved, rejected or expired (on timeout or when `signal` aborts). */
  wait(id: string, opts: { pollMs: number; signal: AbortSignal }): Promise<CommandApproval>;
  decide(id: string, decision: 'approved' | 'rejected', actor: string, reason?: string): Promise<CommandApproval>;
  /**
   * One page: waiting ones oldest first (the order a person works through them), any other state
   * newest first, keyed by (requested_at, id); each command whole, the page cut at the list byte cap.
   */
  list(query: ListCommandApprovalsQuery): Promise<CommandApprovalList>;
  get(id: string): Promise<CommandApproval | null>;
}

export function createCommandApprovals(db: Db): CommandApprovals {
  const decided = new EventEmitter();
  decided.setMaxListeners(0);

  const get = async (id: string): Promise<CommandApproval | null> => {
    const row = await db.selectFrom('command_approvals').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toApproval(row as Row) : null;
  };

  /** pending -> expired for this row if it is pending and past its time (or `force`). */
  const expire = async (id: string, force: boolean, why: string): Promise<void> => {
    let q = db
      .updateTable('command_approvals')
      .set({ state: 'expired', decided_at: sql<Date>`now()`, decided_by: 'system', decision_reason: why })
      .where('id', '=', id)
      .where('state', '=', 'pending');
    if (!force) q = q.where('expires_at', '<=', sql<Date>`now()`);
    await q.execute();
  };

  return {
    get,

    async request(entry) {
      const row = await db
        .insertInto('command_approvals')
        .values({
          id: randomUUID(),
          session_id: entry.sessionId,
          command: entry.command,
          cwd: entry.cwd,
          command_hash: commandHash(entry.cwd, entry.command),
          rule: entry.rule,
          reason: entry.reason,
          requested_at: sql<Date>`now()`,
          expires_at: sql<Date>`now() + ${entry.timeoutMs} * interval '1 millisecond'`,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toApproval(row as Row);
    },

    async wait(id, { pollMs, signal }) {
      for (;;) {
        if (signal.aborted) await expire(id, true, 'the agent run was stopped');
        else await expire(id, false, 'no decision before the approval timed out');
        const current = await get(id);
        if (!current) throw new Error(`command approval ${id} vanished`);
        if (current.state !== 'pending') return current;
        const woken = new AbortController();
        const onDecided = (): void => woken.abort();
        decided.once(id, onDecided);
        try {
          await sleep(pollMs, undefined, { signal: AbortSignal.any([woken.signal, signal]) });
        } catch {
          // woken by a decision or by the run's stop: look at the row again
        } finally {
          decided.off(id, onDecided);
        }
      }
    },

    async decide(id, decision, actor, reason) {
      const updated = await db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('command_approvals')
          .set({ state: decision, decided_at: sql<Date>`now()`, decided_by: actor, decision_reason: reason ?? null })
          .where('id', '=', id)
          .where('state', '=', 'pending')
          .where('expires_at', '>', sql<Date>`now()`)
          .returningAll()
          .executeTakeFirst();
        if (!row) return null;
        await trx
          .insertInto('audit_log')
          .values({
            actor,
            action: decision === 'approved' ? 'command.approve' : 'command.reject',
            target: id,
            details: JSON.stringify({
              command: row.command,
              cwd: row.cwd,
              commandHash: row.command_hash,
              sessionId: row.session_id,
              reason: reason ?? null,
            }),
          })
          .execute();
        return toApproval(row as Row);
      });
      if (updated) {
        decided.emit(id);
        return updated;
      }
      const current = await get(id);
      if (!current) throw new ApiError(404, 'not_found', `no command approval ${id}`);
      if (current.state === 'pending') {
        await expire(id, false, 'no decision before the approval timed out');
        throw new ApiError(409, 'invalid_state', `command approval ${id} expired at ${current.expiresAt}`);
      }
      throw new ApiError(409, 'invalid_state', `command approval ${id} is already ${current.state}`);
    },

    async list(query) {
      const oldestFirst = query.state === 'pending';
      let q = db
        .selectFrom('command_approvals')
        .selectAll()
        // the cursor needs requested_at to the microsecond; a JS Date keeps milliseconds
        .select(
          sql<string>`to_char(requested_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('requested_key'),
        );
      if (query.state === 'pending') q = q.where('state', '=', 'pending').where('expires_at', '>', sql<Date>`now()`);
      else if (query.state) q = q.where('state', '=', query.state);
      if (query.idPrefix) {
        const [lowest, highest] = idPrefixRange(query.idPrefix);
        q = q.where('id', '>=', lowest).where('id', '<=', highest);
      }
      if (query.cursor) {
        const { createdAt, id } = query.cursor;
        q = oldestFirst
          ? q.where(sql<boolean>`(requested_at, id) > (${createdAt}::timestamptz, ${id}::uuid)`)
          : q.where(sql<boolean>`(requested_at, id) < (${createdAt}::timestamptz, ${id}::uuid)`);
      }
      const direction = oldestFirst ? 'asc' : 'desc';
      const rows = await q
        .orderBy('requested_at', direction)
        .orderBy('id', direction)
        .limit(query.limit + 1)
        .execute();

      const page = pageUnderByteCap(
        rows,
        query.limit,
        (row) => toApproval(row as Row),
        (row) => ({ createdAt: row.requested_key, id: row.id }),
      );
      return { approvals: page.items, nextCursor: page.nextCursor };
    },
  };
}
