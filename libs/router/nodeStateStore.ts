import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '@handoff/db';

/**
 * The quarantine and breaker of each model node on record (router_node_state, migration 007), so a
 * restarted coordinator does not send requests to a node it knew was down, and coordinators that
 * share the database share one view (decision 111). Every statement on the table lives here.
 *
 * Writes are off the request's path: `save` only notes the node's latest state, and one upsert
 * writes what is noted; a failed write is logged and tried again at the next poll. The poll reads
 * the whole table (one row per node, a handful) and hands on what another coordinator decided.
 */

export interface NodeStateRecord {
  nodeId: string;
  quarantined: boolean;
  /** When the quarantine in force began; the database keeps the first one while it lasts. */
  quarantinedAt: Date | null;
  reason: string | null;
  consecutiveFailures: number;
  breaker: 'closed' | 'open' | 'half_open';
  breakerOpenedAt: Date | null;
}

export interface NodeStateStore {
  /** This coordinator's name in `updated_by`: `host:pid:random`. */
  readonly instance: string;
  /** The state on record for a node when the store was opened or last polled. */
  saved(nodeId: string): NodeStateRecord | undefined;
  /** Notes a node's new state; written soon, never awaited by a request. */
  save(record: NodeStateRecord): void;
  /** Called with each change another coordinator wrote (seen at a poll). */
  onRemoteChange(listener: (record: NodeStateRecord) => void): void;
  /** Writes what is noted and waits for it. */
  flush(): Promise<void>;
  /** Stops polling and writes what is noted. */
  close(): Promise<void>;
}

export interface NodeStateStoreOptions {
  log: Logger;
  /** How often to read what other coordinators wrote (and retry a failed write), ms; 0: never. Default 2000. */
  pollMs?: number;
}

interface NodeStateRow {
  node_id: string;
  quarantined: boolean;
  quarantined_at: Date | null;
  reason: string | null;
  consecutive_failures: number;
  breaker: NodeStateRecord['breaker'];
  breaker_opened_at: Date | null;
  updated_by: string;
  updated_at: Date;
}

function toRecord(r: NodeStateRow): NodeStateRecord {
  return {
    nodeId: r.node_id,
    quarantined: r.quarantined,
    quarantinedAt: r.quarantined_at,
    reason: r.reason,
    consecutiveFailures: r.consecutive_failures,
    breaker: r.breaker,
    breakerOpenedAt: r.breaker_opened_at,
  };
}

/** Every node's row. */
async function readNodeStates(db: Db): Promise<NodeStateRow[]> {
  const { rows } = await sql<NodeStateRow>`
    SELECT node_id, quarantined, quarantined_at, reason, consecutive_failures, breaker, breaker_opened_at,
      updated_by, updated_at
    FROM router_node_state`.execute(db);
  return rows;
}

/**
 * One upsert for every noted node. `quarantined_at` is kept while the quarantine lasts, so a
 * second coordinator quarantining the same node does not make it a new quarantine.
 */
async function writeNodeStates(
  db: Db,
  instance: string,
  records: readonly NodeStateRecord[],
): Promise<{ node_id: string; updated_at: Date }[]> {
  const col = <T>(f: (r: NodeStateRecord) => T): T[] => records.map(f);
  const { rows } = await sql<{ node_id: string; updated_at: Date }>`
    INSERT INTO router_node_state AS s (node_id, quarantined, quarantined_at, reason, consecutive_failures,
      breaker, breaker_opened_at, updated_by, updated_at)
    SELECT t.*, ${instance}, clock_timestamp()
    FROM unnest(${col((r) => r.nodeId)}::text[], ${col((r) => r.quarantined)}::boolean[],
      ${col((r) => r.quarantinedAt)}::timestamptz[], ${col((r) => r.reason)}::text[],
      ${col((r) => r.consecutiveFailures)}::integer[], ${col((r) => r.breaker)}::text[],
      ${col((r) => r.breakerOpenedAt)}::timestamptz[]) AS t
    ON CONFLICT (node_id) DO UPDATE SET
      quarantined = EXCLUDED.quarantined,
      quarantined_at = CASE WHEN NOT EXCLUDED.quarantined THEN NULL
                            WHEN s.quarantined THEN s.quarantined_at
                            ELSE EXCLUDED.quarantined_at END,
      reason = EXCLUDED.reason,
      consecutive_failures = EXCLUDED.consecutive_failures,
      breaker = EXCLUDED.breaker,
      breaker_opened_at = EXCLUDED.breaker_opened_at,
      updated_by = EXCLUDED.updated_by,
      updated_at = EXCLUDED.updated_at
    RETURNING node_id, updated_at`.execute(db);
  return rows;
}

/** Reads the table once (the state a router starts from), then follows it. */
export async function openNodeStateStore(db: Db, opts: NodeStateStoreOptions): Promise<NodeStateStore> {
  const { log } = opts;
  const instance = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const known = new Map<string, NodeStateRecord>();
  /** updated_at of the row last seen or written per node: a poll hands on only what is newer. */
  const seenAt = new Map<string, number>();
  const pending = new Map<string, NodeStateRecord>();
  const listeners: ((record: NodeStateRecord) => void)[] = [];
  let writing: Promise<void> | null = null;
  let closed = false;

  for (const row of await readNodeStates(db)) {
    known.set(row.node_id, toRecord(row));
    seenAt.set(row.node_id, row.updated_at.getTime());
  }

  async function writePending(): Promise<void> {
    while (pending.size > 0) {
      const batch = [...pending.values()];
      pending.clear();
      try {
        for (const row of await writeNodeStates(db, instance, batch)) seenAt.set(row.node_id, row.updated_at.getTime());
        for (const r of batch) known.set(r.nodeId, r);
      } catch (err) {
        // Kept for the next poll unless a newer state was noted meanwhile; requests never wait on it.
        for (const r of batch) if (!pending.has(r.nodeId)) pending.set(r.nodeId, r);
        log.warn({ err, nodes: batch.map((r) => r.nodeId) }, 'router: could not record the model nodes’ state');
        return;
      }
    }
  }

  function startWrite(): Promise<void> {
    writing ??= writePending().finally(() => {
      writing = null;
    });
    return writing;
  }

  async function poll(): Promise<void> {
    if (pending.size > 0) await startWrite();
    const rows = await readNodeStates(db);
    for (const row of rows) {
      const at = row.updated_at.getTime();
      // a node with a write of ours on the way: ours is the newer decision
      if (row.updated_by === instance || pending.has(row.node_id) || at <= (seenAt.get(row.node_id) ?? -Infinity))
        continue;
      seenAt.set(row.node_id, at);
      const record = toRecord(row);
      known.set(row.node_id, record);
      for (const l of listeners) l(record);
    }
  }

  async function flush(): Promise<void> {
    while (pending.size > 0 || writing) {
      await startWrite();
      // a failed write leaves the rows noted: stop rather than spin
      if (pending.size > 0 && !writing) return;
    }
  }

  const pollMs = opts.pollMs ?? 2000;
  let polling: Promise<void> | null = null;
  const timer =
    pollMs > 0
      ? setInterval(() => {
          polling ??= poll()
            .catch((err: unknown) => log.warn({ err }, 'router: could not read the model nodes’ state'))
            .finally(() => {
              polling = null;
            });
        }, pollMs).unref()
      : undefined;

  return {
    instance,
    saved: (nodeId) => known.get(nodeId),
    save(record) {
      if (closed) return;
      pending.set(record.nodeId, record);
      void startWrite();
    },
    onRemoteChange(listener) {
      listeners.push(listener);
    },
    flush,
    async close() {
      clearInterval(timer);
      await polling;
      await flush();
      closed = true;
    },
  };
}
