-- The model router's state on record (issue 13; docs/router.md "State on record").
--
-- router_node_state: one row per model node (nodes.json id), the quarantine and breaker the router
-- last decided for it. Every coordinator loads it at start and writes each change, so a restart
-- does not forget that a node is down, and coordinators sharing this database share one view
-- (decision 111). The notifier reads quarantines from here.
CREATE TABLE IF NOT EXISTS router_node_state (
  node_id               text PRIMARY KEY,
  quarantined           boolean NOT NULL DEFAULT false,
  -- when the quarantine in force began; kept while it lasts, NULL once the node is reinstated
  quarantined_at        timestamptz,
  -- why: the last failure that counted towards the quarantine (or the breaker's opening)
  reason                text,
  consecutive_failures  integer NOT NULL DEFAULT 0,
  breaker               text NOT NULL DEFAULT 'closed' CHECK (breaker IN ('closed', 'open', 'half_open')),
  -- when the breaker last opened: a restored breaker stays open only for what is left of its reset timeout
  breaker_opened_at     timestamptz,
  -- the coordinator that wrote the row (`host:pid`): the others adopt what it decided
  updated_by            text NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS router_node_state_updated_at ON router_node_state (updated_at);

-- router_usage: one row per routed request, written in batches off the request's path. No primary
-- key: nothing addresses one row, and every index is paid on each insert; the index on `at` serves
-- both the usage report's window and retention's `DELETE ... WHERE at < $1`.
CREATE TABLE IF NOT EXISTS router_usage (
  at           timestamptz NOT NULL,
  -- the client token's name (api_tokens.name), or its `<role>:<id>` when it has none
  token_name   text,
  model_asked  text NOT NULL,
  -- the node and model that answered (or failed last); NULL when no node was tried
  node_id      text,
  model_used   text,
  escalations  integer NOT NULL DEFAULT 0,
  tokens_in    integer,
  tokens_out   integer,
  -- time to the first byte sent to the client, and to the end; NULL ttfb when nothing was sent
  ttfb_ms      integer,
  total_ms     integer NOT NULL,
  -- 'ok', 'client_aborted', or the error code the client was answered with
  status       text NOT NULL
);
CREATE INDEX IF NOT EXISTS router_usage_at ON router_usage (at);

-- Model nodes' state and usage are the coordinator's: an executor's role (migration 005) reads and
-- writes neither. Nothing grants them to it; this says so for a database where someone did.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_node') THEN
    REVOKE ALL ON router_node_state, router_usage FROM handoff_node;
  END IF;
END $$;
