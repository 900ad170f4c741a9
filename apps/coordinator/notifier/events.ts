import { sql, type RawBuilder } from 'kysely';
import { IntentState, NOTIFY_CHANNEL, type NotifyEvent } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { executorAlive, HEARTBEAT_STALE_SECONDS } from '@handoff/intents';

/*
 * Noticing events: each source reads its table a little behind its cursor, skips what is already
 * recorded (notify_events.key names the event itself), and the pass records what is new and moves the
 * cursor in one transaction. Sources read the database, not this process's memory, so an event is
 * noticed whichever coordinator (or executor) caused it.
 */

/**
 * How far behind its cursor a source is read again. A row's time is taken when its statement runs,
 * but it becomes visible when its transaction commits: one that commits this much later than a row
 * already read would otherwise be passed over. Re-reading is harmless (the key is recorded once).
 */
export const LATE_COMMIT_SECONDS = 120;

/** The most events one source gives one pass; the rest come in the next (the cursor moves only to what was read). */
const PER_PASS = 1000;

/** A candidate a source found: what it is, the database time the cursor moves to, and the raw facts for the subject. */
interface Candidate {
  key: string;
  at: Date;
  intent_id: string | null;
  subject: string;
}

interface Source {
  name: NotifyEvent;
  /** New candidates whose time is after `since`, none of them recorded yet, oldest first. */
  read(db: Db, since: Date): Promise<Candidate[]>;
}

/** The recorded-yet test of a candidate, by its key expression. */
function unrecorded(key: RawBuilder<string>): RawBuilder<boolean> {
  return sql<boolean>`NOT EXISTS (SELECT 1 FROM notify_events e WHERE e.key = ${key})`;
}

/** A time written into a key exactly (microseconds), so the same moment always gives the same key. */
function stamp(column: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US')`;
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

const shortId = (id: string): string => id.slice(0, 8);

/** The subject's room for a provider's or person's words (the subject holds 300 characters). */
const WORDS = 160;

/**
 * Intents in one state, noticed once per arrival in it. `notify` intents are left out: a notification
 * that waits, died or is in doubt must not notify again (and that again, in a loop); the console's
 * Needs you shows them.
 */
function intentsIn(
  name: NotifyEvent,
  state: IntentState,
  keyed: 'once' | 'per_arrival',
  describe: (r: IntentRow) => string,
): Source {
  return {
    name,
    async read(db, since) {
      // created_at for a state only entered at creation; updated_at for one entered again after a retry
      const time = keyed === 'once' ? sql.ref('i.created_at') : sql.ref('i.updated_at');
      const key =
        keyed === 'once'
          ? sql<string>`${sql.lit(name)} || ':' || i.id`
          : sql<string>`${sql.lit(name)} || ':' || i.id || ':' || ${stamp(time)}`;
      const { rows } = await sql<IntentRow & { key: string; at: Date }>`
        SELECT ${key} AS key, ${time} AS at, i.id, i.channel, i.account, i.last_error
        FROM intents i
        WHERE i.state = ${state} AND i.channel <> ${NOTIFY_CHANNEL} AND ${time} > ${since}
          AND ${unrecorded(key)}
        ORDER BY ${time}, i.id
        LIMIT ${PER_PASS}`.execute(db);
      return rows.map((r) => ({ key: r.key, at: r.at, intent_id: r.id, subject: describe(r) }));
    },
  };
}

interface IntentRow {
  id: string;
  channel: string;
  account: string;
  last_error: string | null;
}

const approvalNeeded = intentsIn(
  'approval_needed',
  IntentState.enum.pending_approval,
  'once',
  (r) => `${r.channel}:${r.account} intent ${shortId(r.id)} waits for approval`,
);

const dead = intentsIn(
  'dead',
  IntentState.enum.dead,
  'per_arrival',
  (r) =>
    `${r.channel}:${r.account} intent ${shortId(r.id)} is dead${r.last_error ? `: ${clip(r.last_error, WORDS)}` : ''}`,
);

const inDoubt = intentsIn(
  'in_doubt',
  IntentState.enum.in_doubt,
  'per_arrival',
  (r) =>
    `${r.channel}:${r.account} intent ${shortId(r.id)} is in doubt: did it happen? resolve or retry it${r.last_error ? ` (${clip(r.last_error, WORDS)})` : ''}`,
);

/**
 * An executor whose heartbeat went stale, once per silence (its last heartbeat is in the key). One
 * that stopped cleanly said so (status `stopped`) and is not news.
 */
const executorStale: Source = {
  name: 'executor_stale',
  async read(db, since) {
    const staleAt = sql<Date>`x.heartbeat_at + make_interval(secs => ${HEARTBEAT_STALE_SECONDS})`;
    const key = sql<string>`'executor_stale:' || x.id || ':' || ${stamp(sql`x.heartbeat_at`)}`;
    const { rows } = await sql<{ key: string; at: Date; id: string; host: string; heartbeat_at: Date }>`
      SELECT ${key} AS key, ${staleAt} AS at, x.id, x.host, x.heartbeat_at
      FROM executors x
      WHERE x.status <> 'stopped' AND NOT (${executorAlive()}) AND ${staleAt} > ${since} AND ${unrecorded(key)}
      ORDER BY ${staleAt}, x.id
      LIMIT ${PER_PASS}`.execute(db);
    return rows.map((r) => ({
      key: r.key,
      at: r.at,
      intent_id: null,
      subject: `executor ${r.id} on ${r.host} stopped sending heartbeats (last ${r.heartbeat_at.toISOString()})`,
    }));
  },
};

/**
 * A breaker an alive executor reports open, once per opening (its openedAt is in the key). The
 * `notify` channel's own breakers are left out: a failing target's breaker would otherwise notify
 * about itself through itself at every reopening.
 */
const breakerOpened: Source = {
  name: 'breaker_opened',
  async read(db, since) {
    const key = sql<string>`'breaker_opened:' || x.id || ':' || (b->>'key') || ':' || coalesce(b->>'openedAt', '')`;
    const { rows } = await sql<{ key: string; at: Date; id: string; breaker: string; failures: number }>`
      SELECT ${key} AS key, x.heartbeat_at AS at, x.id, b->>'key' AS breaker, coalesce((b->>'failures')::int, 0) AS failures
      FROM executors x CROSS JOIN LATERAL jsonb_array_elements(x.breakers) AS b
      WHERE x.status <> 'stopped' AND ${executorAlive()} AND x.heartbeat_at > ${since}
        AND b->>'state' = 'open' AND b->>'key' NOT LIKE ${`${NOTIFY_CHANNEL}:%`}
        AND ${unrecorded(key)}
      ORDER BY x.heartbeat_at, x.id
      LIMIT ${PER_PASS}`.execute(db);
    return rows.map((r) => ({
      key: r.key,
      at: r.at,
      intent_id: null,
      subject: `breaker ${r.breaker} opened on executor ${r.id} (${r.failures} failures): its intents wait`,
    }));
  },
};

/** Every gate change, with who made it (the token's name when it has one) and why. */
const gateChanged: Source = {
  name: 'gate_changed',
  async read(db, since) {
    const key = sql<string>`'gate_changed:' || h.id`;
    const { rows } = await sql<{
      key: string;
      at: Date;
      scope: string;
      enabled: boolean;
      reason: string | null;
      actor: string | null;
      actor_name: string | null;
    }>`
      SELECT ${key} AS key, h.created_at AS at, h.scope, h.enabled, h.reason, h.actor, t.name AS actor_name
      FROM gate_history h
      LEFT JOIN api_tokens t ON h.actor = t.role || ':' || t.id::text
      WHERE h.created_at > ${since} AND ${unrecorded(key)}
      ORDER BY h.created_at, h.id
      LIMIT ${PER_PASS}`.execute(db);
    return rows.map((r) => {
      const who = r.actor_name ?? r.actor;
      return {
        key: r.key,
        at: r.at,
        intent_id: null,
        subject:
          `gate ${r.scope} ${r.enabled ? 'opened' : 'closed'}${who ? ` by ${clip(who, 80)}` : ''}` +
          (r.reason ? `: ${clip(r.reason, WORDS)}` : ''),
      };
    });
  },
};

/** A model node the router quarantined, once per quarantine (router_node_state, migration 007). */
const modelNodeQuarantined: Source = {
  name: 'model_node_quarantined',
  async read(db, since) {
    const key = sql<string>`'model_node_quarantined:' || n.node_id || ':' || ${stamp(sql`coalesce(n.quarantined_at, n.updated_at)`)}`;
    const { rows } = await sql<{ key: string; at: Date; node_id: string; reason: string | null }>`
      SELECT ${key} AS key, n.updated_at AS at, n.node_id, n.reason
      FROM router_node_state n
      WHERE n.quarantined AND n.updated_at > ${since} AND ${unrecorded(key)}
      ORDER BY n.updated_at, n.node_id
      LIMIT ${PER_PASS}`.execute(db);
    return rows.map((r) => ({
      key: r.key,
      at: r.at,
      intent_id: null,
      subject: `model node ${r.node_id} quarantined${r.reason ? `: ${clip(r.reason, WORDS)}` : ''}`,
    }));
  },
};

/** A backup that failed (backup_runs, migration 012). */
const backupFailed: Source = {
  name: 'backup_failed',
  async read(db, since) {
    const key = sql<string>`'backup_failed:' || r.id`;
    const { rows } = await sql<{ key: string; at: Date; id: string; kind: string; error: string | null }>`
      SELECT ${key} AS key, r.finished_at AS at, r.id::text AS id, r.kind, r.error
      FROM backup_runs r
      WHERE r.status = 'failed' AND r.finished_at > ${since} AND ${unrecorded(key)}
      ORDER BY r.finished_at, r.id
      LIMIT ${PER_PASS}`.execute(db);
    return rows.map((r) => ({
      key: r.key,
      at: r.at,
      intent_id: null,
      subject: `${r.kind} backup #${r.id} failed${r.error ? `: ${clip(r.error, WORDS)}` : ''}`,
    }));
  },
};

/** Every source, one per event the contract names. */
export const SOURCES: readonly Source[] = [
  approvalNeeded,
  dead,
  inDoubt,
  executorStale,
  breakerOpened,
  gateChanged,
  modelNodeQuarantined,
  backupFailed,
];

const SUBJECT_MAX = 300;

/**
 * One noticing pass, inside the caller's transaction (which holds the notifier's lock): each source
 * read from its cursor (less LATE_COMMIT_SECONDS), what is new recorded unfolded, and the cursor moved
 * to the latest time read. A source without a cursor starts at the database's now. Answers how many
 * events each source recorded.
 */
export async function noticeEvents(trx: Db): Promise<Partial<Record<NotifyEvent, number>>> {
  const { rows: cursors } = await sql<{ source: string; position: Date }>`
    SELECT source, position FROM notify_cursors`.execute(trx);
  const { rows: nowRows } = await sql<{ now: Date }>`SELECT clock_timestamp() AS now`.execute(trx);
  const now = nowRows[0]!.now;
  const positions = new Map(cursors.map((c) => [c.source, c.position]));
  const noticed: Partial<Record<NotifyEvent, number>> = {};
  for (const source of SOURCES) {
    const position = positions.get(source.name) ?? now;
    const found = await source.read(trx, new Date(position.getTime() - LATE_COMMIT_SECONDS * 1000));
    if (found.length > 0) {
      await sql`
        INSERT INTO notify_events (key, event, subject, intent_id, at)
        SELECT * FROM unnest(${found.map((c) => c.key)}::text[], ${found.map(() => source.name)}::text[],
          ${found.map((c) => clip(c.subject, SUBJECT_MAX))}::text[], ${found.map((c) => c.intent_id)}::uuid[],
          ${found.map((c) => c.at)}::timestamptz[])
        ON CONFLICT (key) DO NOTHING`.execute(trx);
      noticed[source.name] = found.length;
    }
    const latest = found.reduce((max, c) => (c.at > max ? c.at : max), position);
    // a quiet source with a cursor writes nothing: a pass a second must not be a write a second
    if (positions.has(source.name) && latest.getTime() <= position.getTime()) continue;
    await sql`
      INSERT INTO notify_cursors (source, position) VALUES (${source.name}, ${latest})
      ON CONFLICT (source) DO UPDATE SET position = greatest(notify_cursors.position, excluded.position)`.execute(trx);
  }
  return noticed;
}
