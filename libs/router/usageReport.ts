import { sql } from 'kysely';
import type { RouterUsageBy, RouterUsageFigures, RouterUsageQuery, RouterUsageReport } from '@handoff/contracts';
import type { Db } from '@handoff/db';

/**
 * GET /v1/router/usage: router_usage aggregated over the last `since` seconds (by the database's
 * clock) by one key, with the totals, in one scan of the `at` index (GROUPING SETS: the groups and
 * the grand total). Percentiles are percentile_cont, so a p95 of few requests is interpolated.
 */

/** The grouping expression per `by`: a fixed list, never the caller's text. */
const KEYS: Record<RouterUsageBy, string> = {
  model: 'model_asked',
  node: 'node_id',
  day: `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  token: 'token_name',
};

interface FiguresRow {
  total: boolean;
  key: string | null;
  since: Date;
  requests: number;
  errors: number;
  client_aborted: number;
  escalated: number;
  tokens_in: number;
  tokens_out: number;
  ttfb_p50: number | null;
  ttfb_p95: number | null;
  total_p50: number | null;
  total_p95: number | null;
}

const ms = (v: number | null): number | null => (v === null ? null : Math.round(v));

function figures(r: FiguresRow): RouterUsageFigures {
  return {
    requests: r.requests,
    errors: r.errors,
    clientAborted: r.client_aborted,
    escalated: r.escalated,
    tokensIn: r.tokens_in,
    tokensOut: r.tokens_out,
    ttfbP50Ms: ms(r.ttfb_p50),
    ttfbP95Ms: ms(r.ttfb_p95),
    totalP50Ms: ms(r.total_p50),
    totalP95Ms: ms(r.total_p95),
  };
}

const NO_REQUESTS: RouterUsageFigures = {
  requests: 0,
  errors: 0,
  clientAborted: 0,
  escalated: 0,
  tokensIn: 0,
  tokensOut: 0,
  ttfbP50Ms: null,
  ttfbP95Ms: null,
  totalP50Ms: null,
  totalP95Ms: null,
};

export async function readUsage(db: Db, query: RouterUsageQuery): Promise<RouterUsageReport> {
  const key = sql.raw(KEYS[query.by]);
  const { rows } = await sql<FiguresRow>`
    WITH b AS (SELECT clock_timestamp() - make_interval(secs => ${query.since}) AS since)
    SELECT grouping(${key}) = 1 AS total, ${key} AS key, (SELECT since FROM b) AS since,
      count(*)::int AS requests,
      count(*) FILTER (WHERE status NOT IN ('ok', 'client_aborted'))::int AS errors,
      count(*) FILTER (WHERE status = 'client_aborted')::int AS client_aborted,
      count(*) FILTER (WHERE escalations > 0)::int AS escalated,
      coalesce(sum(tokens_in), 0)::float8 AS tokens_in,
      coalesce(sum(tokens_out), 0)::float8 AS tokens_out,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY ttfb_ms) AS ttfb_p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY ttfb_ms) AS ttfb_p95,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY total_ms) AS total_p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms) AS total_p95
    FROM router_usage
    WHERE at >= (SELECT since FROM b)
    GROUP BY GROUPING SETS ((${key}), ())
    ORDER BY total, ${sql.raw(query.by === 'day' ? `${KEYS.day}` : 'count(*) DESC')}, 2`.execute(db);
  const totals = rows.find((r) => r.total);
  // no row at all in the window: still say from when
  const since =
    totals?.since ??
    (await sql<{ since: Date }>`SELECT clock_timestamp() - make_interval(secs => ${query.since}) AS since`.execute(db))
      .rows[0]!.since;
  return {
    since: since.toISOString(),
    by: query.by,
    rows: rows.filter((r) => !r.total).map((r) => ({ key: r.key, ...figures(r) })),
    totals: totals ? figures(totals) : NO_REQUESTS,
  };
}
