import { sql } from 'kysely';
import type { ColumnType, Generated, Selectable } from 'kysely';
import { pageUnderByteCap } from '@handoff/contracts';
import type {
  AgentEventBody,
  AgentSession,
  AgentSessionDetail,
  AgentSessionList,
  AgentSessionState,
  AgentTranscriptMessage,
  Caller,
  ListAgentSessionsQuery,
} from '@handoff/contracts';
import { RESUMABLE_SESSION_STATES } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import type { Entry } from './conversation.ts';
import type { AssembledToolCall } from './model.ts';
import { redact, redactString } from './redact.ts';
import type { SessionRecorder, UsageTotals } from './session.ts';

/**
 * Agent sessions in Postgres (migration 008): the session row, its conversation and the events a
 * person reads back, written as the run goes. Every statement on these tables lives here.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

interface AgentSessionsTable {
  id: string;
  task: string;
  model: string;
  current_model: string;
  working_dir: string;
  max_turns: number;
  actor: string;
  owner_token_id: string;
  state: Generated<AgentSessionState>;
  turns: Generated<number>;
  prompt_tokens: Generated<number>;
  completion_tokens: Generated<number>;
  tokens_estimated: Generated<boolean>;
  started_at: Timestamp;
  ended_at: NullableTimestamp;
  active_ms: ColumnType<string, number | undefined, number>;
  resumed_at: NullableTimestamp;
  resumes: Generated<number>;
  error_code: string | null;
  error_message: string | null;
  summary: string | null;
}

interface AgentMessagesTable {
  session_id: string;
  seq: number;
  turn: number;
  role: Entry['role'];
  content: string | null;
  tool_calls: ColumnType<AssembledToolCall[] | null, string | null, string | null>;
  tool_call_id: string | null;
  summarised_through: number | null;
  created_at: Timestamp;
}

interface AgentSessionEventsTable {
  id: Generated<string>;
  session_id: string;
  type: string;
  body: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
}

// a type, not an interface: withTables needs an index-compatible record
type SessionTables = {
  agent_sessions: AgentSessionsTable;
  agent_messages: AgentMessagesTable;
  agent_session_events: AgentSessionEventsTable;
};

/** A session as the loop needs it to go on. */
export interface StoredSession {
  id: string;
  task: string;
  model: string;
  currentModel: string;
  workingDir: string;
  maxTurns: number;
  actor: string;
  ownerTokenId: string;
  state: AgentSessionState;
  usage: UsageTotals;
}

export interface NewSession {
  id: string;
  task: string;
  model: string;
  workingDir: string;
  maxTurns: number;
  actor: string;
  ownerTokenId: string;
}

/** The events a person reads back; text deltas and tool traffic are in the transcript and the audit. */
const KEPT_EVENTS = new Set<AgentEventBody['type']>([
  'blocked',
  'approval_required',
  'intent_proposed',
  'context',
  'session_resumed',
  'done',
  'error',
]);

export type ClaimResult = { ok: true; session: StoredSession } | { ok: false; state: AgentSessionState | null };

export interface SessionStore {
  create(session: NewSession): Promise<void>;
  /** Sessions left `running` by a coordinator that is gone become `interrupted`; answers their ids. */
  interruptRunning(): Promise<string[]>;
  /** A resumable session of the caller's becomes `running` again (one claimant wins); else its state. */
  claimForResume(id: string, caller: Caller): Promise<ClaimResult>;
  entries(id: string): Promise<Entry[]>;
  recorder(id: string): SessionRecorder;
  recordEvent(id: string, event: AgentEventBody): Promise<void>;
  finish(
    id: string,
    state: Exclude<AgentSessionState, 'running'>,
    end: { errorCode?: string; errorMessage?: string; summary?: string },
  ): Promise<void>;
  list(query: ListAgentSessionsQuery, caller: Caller): Promise<AgentSessionList>;
  detail(id: string, caller: Caller): Promise<AgentSessionDetail | null>;
}

/** An agent token sees the sessions it started; viewers and operators see every one. */
const visibleTo = (caller: Caller): string | null => (caller.role === 'agent' ? caller.tokenId : null);

/** Run time: the earlier attempts' plus, while running, this one's so far. */
const durationSql = sql<string>`(active_ms + CASE WHEN state = 'running'
  THEN floor(extract(epoch FROM now() - coalesce(resumed_at, started_at)) * 1000) ELSE 0 END)::bigint`;
/** Closing an attempt adds its time to active_ms. */
const closeAttemptSql = sql<number>`active_ms + floor(extract(epoch FROM now() - coalesce(resumed_at, started_at)) * 1000)::bigint`;

type SessionRow = Selectable<AgentSessionsTable> & { duration_ms: string; started_key: string };

function toSession(r: SessionRow): AgentSession {
  return {
    id: r.id,
    task: r.task,
    model: r.model,
    currentModel: r.current_model,
    workingDir: r.working_dir,
    state: r.state,
    turns: r.turns,
    maxTurns: r.max_turns,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    startedAt: r.started_at.toISOString(),
    endedAt: r.ended_at?.toISOString() ?? null,
    durationMs: Number(r.duration_ms),
    resumes: r.resumes,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    summary: r.summary,
  };
}

function toEntry(r: Selectable<AgentMessagesTable>): Entry {
  return {
    seq: r.seq,
    turn: r.turn,
    role: r.role,
    content: r.content,
    ...(r.tool_calls ? { toolCalls: r.tool_calls } : {}),
    ...(r.tool_call_id ? { toolCallId: r.tool_call_id } : {}),
    ...(r.summarised_through !== null ? { summarisedThrough: r.summarised_through } : {}),
  };
}

/**
 * jsonb refuses \u0000 and a lone surrogate (JSON.stringify escapes one as \udXXX), both of which a
 * model may write: they are kept visible as text instead of failing the write, and with it the run.
 */
const jsonb = (value: unknown): string =>
  // an escape is one preceded by an even number of backslashes
  JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u(0000|d[89a-f][0-9a-f]{2})/gi, '$1\\\\u$2');
const text = (value: string | null): string | null => value?.replaceAll('\0', '\\0') ?? null;

export function createSessionStore(base: Db): SessionStore {
  const db = base.withTables<SessionTables>();

  const sessionQuery = () =>
    db
      .selectFrom('agent_sessions')
      .selectAll()
      .select(durationSql.as('duration_ms'))
      // the cursor needs started_at to the microsecond; a JS Date keeps milliseconds
      .select(sql<string>`to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('started_key'));

  const insertEntry = (id: string, e: Entry) =>
    db
      .insertInto('agent_messages')
      .values({
        session_id: id,
        seq: e.seq,
        turn: e.turn,
        role: e.role,
        content: text(e.content),
        tool_calls: e.toolCalls ? jsonb(e.toolCalls) : null,
        tool_call_id: e.toolCallId ?? null,
        summarised_through: e.summarisedThrough ?? null,
      })
      .onConflict((oc) => oc.columns(['session_id', 'seq']).doNothing());

  const usageValues = (u: UsageTotals) => ({
    turns: u.turns,
    prompt_tokens: Math.min(u.promptTokens, 2 ** 31 - 1),
    completion_tokens: Math.min(u.completionTokens, 2 ** 31 - 1),
    tokens_estimated: u.estimated,
  });

  return {
    async create(s) {
      await db
        .insertInto('agent_sessions')
        .values({
          id: s.id,
          task: s.task,
          model: s.model,
          current_model: s.model,
          working_dir: s.workingDir,
          max_turns: s.maxTurns,
          actor: s.actor,
          owner_token_id: s.ownerTokenId,
          started_at: sql<Date>`now()`,
        })
        .execute();
    },

    async interruptRunning() {
      const rows = await db
        .updateTable('agent_sessions')
        .set({
          state: 'interrupted',
          ended_at: sql<Date>`now()`,
          active_ms: closeAttemptSql,
          error_code: 'shutdown',
          error_message: 'the coordinator stopped while the session ran; resume it with handoff agent resume',
        })
        .where('state', '=', 'running')
        .returning('id')
        .execute();
      return rows.map((r) => r.id);
    },

    async claimForResume(id, caller) {
      let q = db
        .updateTable('agent_sessions')
        .set({
          state: 'running',
          resumed_at: sql<Date>`now()`,
          resumes: sql<number>`resumes + 1`,
          ended_at: null,
          error_code: null,
          error_message: null,
        })
        .where('id', '=', id)
        .where('state', 'in', [...RESUMABLE_SESSION_STATES]);
      const owner = visibleTo(caller);
      if (owner) q = q.where('owner_token_id', '=', owner);
      const row = await q.returningAll().executeTakeFirst();
      if (row) {
        return {
          ok: true,
          session: {
            id: row.id,
            task: row.task,
            model: row.model,
            currentModel: row.current_model,
            workingDir: row.working_dir,
            maxTurns: row.max_turns,
            actor: row.actor,
            ownerTokenId: row.owner_token_id,
            state: 'running',
            usage: {
              turns: row.turns,
              promptTokens: row.prompt_tokens,
              completionTokens: row.completion_tokens,
              estimated: row.tokens_estimated,
            },
          },
        };
      }
      let look = db.selectFrom('agent_sessions').select('state').where('id', '=', id);
      if (owner) look = look.where('owner_token_id', '=', owner);
      const found = await look.executeTakeFirst();
      return { ok: false, state: found?.state ?? null };
    },

    async entries(id) {
      const rows = await db
        .selectFrom('agent_messages')
        .selectAll()
        .where('session_id', '=', id)
        .orderBy('seq')
        .execute();
      return rows.map(toEntry);
    },

    recorder(id) {
      return {
        async turnAnswered(entry, usage) {
          await db.transaction().execute(async (trx) => {
            await trx.updateTable('agent_sessions').set(usageValues(usage)).where('id', '=', id).execute();
            await trx
              .insertInto('agent_messages')
              .values({
                session_id: id,
                seq: entry.seq,
                turn: entry.turn,
                role: entry.role,
                content: text(entry.content),
                tool_calls: entry.toolCalls ? jsonb(entry.toolCalls) : null,
                tool_call_id: null,
                summarised_through: null,
              })
              .onConflict((oc) => oc.columns(['session_id', 'seq']).doNothing())
              .execute();
          });
        },
        async entryAdded(entry) {
          await insertEntry(id, entry).execute();
        },
        async usageChanged(usage) {
          await db.updateTable('agent_sessions').set(usageValues(usage)).where('id', '=', id).execute();
        },
        async modelChanged(model) {
          await db.updateTable('agent_sessions').set({ current_model: model }).where('id', '=', id).execute();
        },
      };
    },

    async recordEvent(id, event) {
      if (!KEPT_EVENTS.has(event.type)) return;
      await db
        .insertInto('agent_session_events')
        .values({ session_id: id, type: event.type, body: jsonb(redact(event)), created_at: sql<Date>`now()` })
        .execute();
    },

    async finish(id, state, end) {
      await db
        .updateTable('agent_sessions')
        .set({
          state,
          ended_at: sql<Date>`now()`,
          active_ms: closeAttemptSql,
          error_code: end.errorCode ?? null,
          error_message: text(end.errorMessage ?? null),
          summary: text(end.summary ?? null),
        })
        .where('id', '=', id)
        .where('state', '=', 'running')
        .execute();
    },

    async list(query, caller) {
      let q = sessionQuery();
      const owner = visibleTo(caller);
      if (owner) q = q.where('owner_token_id', '=', owner);
      if (query.state) q = q.where('state', '=', query.state);
      if (query.cursor) {
        const { createdAt, id } = query.cursor;
        q = q.where(sql<boolean>`(started_at, id) < (${createdAt}::timestamptz, ${id}::uuid)`);
      }
      const rows = await q
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit + 1)
        .execute();
      const page = pageUnderByteCap(
        rows,
        query.limit,
        (r) => toSession(r),
        (r) => ({ createdAt: r.started_key, id: r.id }),
      );
      return { sessions: page.items, nextCursor: page.nextCursor };
    },

    async detail(id, caller) {
      let q = sessionQuery().where('id', '=', id);
      const owner = visibleTo(caller);
      if (owner) q = q.where('owner_token_id', '=', owner);
      const row = await q.executeTakeFirst();
      if (!row) return null;
      const [messages, events, audit, approvals, intents] = await Promise.all([
        db.selectFrom('agent_messages').selectAll().where('session_id', '=', id).orderBy('seq').execute(),
        db.selectFrom('agent_session_events').selectAll().where('session_id', '=', id).orderBy('id').execute(),
        base.selectFrom('agent_audit').selectAll().where('session_id', '=', id).orderBy('id').execute(),
        base.selectFrom('command_approvals').selectAll().where('session_id', '=', id).execute(),
        base
          .selectFrom('intents')
          .select(['id', 'idempotency_key', 'channel', 'account', 'state', 'created_at'])
          .where('idempotency_key', 'like', `agent:${id}:%`)
          .orderBy('created_at')
          .execute(),
      ]);

      const transcript: AgentTranscriptMessage[] = messages.map((m) => ({
        seq: m.seq,
        turn: m.turn,
        role: m.role,
        content: m.content === null ? null : redactString(m.content),
        ...(m.tool_calls
          ? {
              toolCalls: m.tool_calls.map((c) => ({
                id: c.id,
                name: c.function.name,
                arguments: redact(parseArguments(c.function.arguments)),
              })),
            }
          : {}),
        ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}),
        ...(m.summarised_through !== null ? { summarisedThrough: m.summarised_through } : {}),
        at: m.created_at.toISOString(),
      }));

      // Asked commands from their approval rows (written before the run waits, so a crash keeps them);
      // outright denials from the events.
      type Decision = AgentSessionDetail['guardDecisions'][number];
      const callOf = new Map<string, string>();
      const guardDecisions: Decision[] = [];
      for (const e of events) {
        const b = e.body;
        if (e.type === 'approval_required') callOf.set(String(b['approvalId']), String(b['toolCallId']));
        if (e.type === 'blocked' && b['decision'] === 'deny') {
          guardDecisions.push({
            at: e.created_at.toISOString(),
            toolCallId: String(b['toolCallId']),
            command: String(b['command']),
            decision: 'deny',
            rule: String(b['rule']),
            reason: String(b['reason']),
            approvalId: null,
          });
        }
      }
      for (const a of approvals) {
        guardDecisions.push({
          at: (a.decided_at ?? a.requested_at).toISOString(),
          toolCallId: callOf.get(a.id) ?? '',
          command: a.command,
          decision: a.state === 'pending' ? 'ask' : a.state,
          rule: a.rule,
          reason: a.decision_reason ?? a.reason,
          approvalId: a.id,
        });
      }
      guardDecisions.sort((x, y) => x.at.localeCompare(y.at));

      return {
        ...toSession(row),
        transcript,
        toolAudit: audit.map((a) => ({
          at: a.ts.toISOString(),
          toolCallId: a.tool_call_id,
          tool: a.tool_name,
          args: a.args,
          decision: a.decision,
          blocked: a.blocked,
          exitCode: a.exit_code,
          durationMs: a.duration_ms,
        })),
        guardDecisions,
        intents: intents.map((i) => ({
          id: i.id,
          idempotencyKey: i.idempotency_key,
          channel: i.channel,
          account: i.account,
          state: i.state,
          createdAt: i.created_at.toISOString(),
        })),
        contextEvents: events
          .filter((e) => e.type === 'context')
          .map((e) => {
            const b = e.body as Record<string, unknown>;
            return {
              at: e.created_at.toISOString(),
              turn: Number(b['turn']),
              action: String(b['action']),
              detail: `${String(b['detail'])} (${String(b['tokensBefore'])} -> ${String(b['tokensAfter'])} tokens, window ${String(b['contextWindow'])})`,
            };
          }),
      };
    },
  };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
