-- Retention, archive and autovacuum (issue 15; docs/operations.md "Retention" and "Archive").
--
-- receipts and audit_log are append-only (migration 001's handoff_forbid_change). Two functions
-- below may delete from them, and only they: each says so for its own transaction (the setting
-- handoff.purge, set local), the trigger lets a DELETE through only then, and never for a node's
-- session (a role listed in `nodes`), which in any case holds no DELETE right on these tables and
-- no EXECUTE right on these functions. UPDATE and TRUNCATE stay refused for everyone.
CREATE OR REPLACE FUNCTION handoff_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('handoff.purge', true) = 'on'
     AND NOT EXISTS (SELECT 1 FROM nodes WHERE role_name = session_user) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'raise_exception';
END
$$;

-- Retention: at most p_limit audit_log rows older than p_before, oldest first (a bounded batch: the
-- caller loops, so no statement holds its locks for long). Answers how many went.
CREATE OR REPLACE FUNCTION handoff_purge_audit_log(p_before timestamptz, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  PERFORM set_config('handoff.purge', 'on', true);
  DELETE FROM audit_log WHERE id IN
    (SELECT id FROM audit_log WHERE created_at < p_before ORDER BY id LIMIT p_limit);
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('handoff.purge', 'off', true);
  RETURN n;
END
$$;

-- Archive: removes the intents of p_ids that are in one of p_states (the finished states, named by
-- libs/intents/stateMachine.ts) with their receipts, attempts and approvals, in the order the
-- foreign keys need, and writes one audit row saying who removed how many, into which file. An id
-- in another state (or already gone) is left alone, so a rerun is harmless. Answers the ids removed.
CREATE OR REPLACE FUNCTION handoff_archive_intents(p_ids uuid[], p_states text[], p_actor text, p_details jsonb)
RETURNS SETOF uuid LANGUAGE plpgsql AS $$
DECLARE
  doomed uuid[];
BEGIN
  SELECT coalesce(array_agg(id), '{}') INTO doomed FROM
    (SELECT id FROM intents WHERE id = ANY(p_ids) AND state = ANY(p_states) FOR UPDATE) f;
  IF cardinality(doomed) = 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('handoff.purge', 'on', true);
  DELETE FROM receipts WHERE intent_id = ANY(doomed);
  DELETE FROM attempts WHERE intent_id = ANY(doomed);
  DELETE FROM approvals WHERE intent_id = ANY(doomed);
  DELETE FROM intents WHERE id = ANY(doomed);
  PERFORM set_config('handoff.purge', 'off', true);
  INSERT INTO audit_log (actor, action, target, details)
    VALUES (p_actor, 'intent.archive', NULL, p_details || jsonb_build_object('count', cardinality(doomed)));
  RETURN QUERY SELECT unnest(doomed);
END
$$;

REVOKE EXECUTE ON FUNCTION handoff_purge_audit_log(timestamptz, integer),
  handoff_archive_intents(uuid[], text[], text, jsonb) FROM PUBLIC;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_node') THEN
    REVOKE EXECUTE ON FUNCTION handoff_purge_audit_log(timestamptz, integer),
      handoff_archive_intents(uuid[], text[], text, jsonb) FROM handoff_node;
  END IF;
END $$;

-- Autovacuum for the hot tables: the defaults (20 % of a table dead before a vacuum) let a table
-- updated on every lease, token or heartbeat bloat between passes. Small tables rewritten all day
-- (rate_buckets, executors) are vacuumed after a fixed number of dead rows; the large ones after
-- 2-5 %. pg-boss's job table is tuned by the housekeeping job (its schema appears after migrations).
ALTER TABLE intents SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 1);
ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE rate_buckets SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500);
ALTER TABLE executors SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 200);
