-- Nodes and their database roles (issue 11). An executor on another machine connects as a LOGIN
-- role of its own, member of the group role `handoff_node`, which may do an executor's work and
-- nothing else: it holds no UPDATE/DELETE on intents, attempts or receipts and nothing at all on
-- approvals, gates' history, api_tokens or audit_log. Every fenced executor write is one of the
-- SECURITY DEFINER functions below, which check the fence (lease epoch and state) and, for a node,
-- that the intent's `channel:account` is one the node was registered for. The coordinator and a
-- local executor keep the owner connection and call the same functions: one home per statement.
--
-- On a Postgres where the migrating user may not create roles, the group is skipped with a
-- WARNING; a superuser then runs `CREATE ROLE handoff_node NOLOGIN` and grants the migrating user
-- CREATEROLE (node add creates one LOGIN role per node), and the coordinator's next start grants
-- the group its rights (handoff_grant_node_group below).

CREATE TABLE IF NOT EXISTS nodes (
  id          text PRIMARY KEY,
  role_name   text NOT NULL UNIQUE,
  -- `channel:account` or `channel:*`: the intents this node may lease
  accounts    text[] NOT NULL,
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_node') THEN
    CREATE ROLE handoff_node NOLOGIN;
  END IF;
EXCEPTION
  -- another database on this server created it meanwhile (roles are per server)
  WHEN duplicate_object OR unique_violation THEN NULL;
  WHEN insufficient_privilege THEN
    RAISE WARNING 'handoff: this user may not create roles, so nodes cannot join yet. As a superuser run: '
      'CREATE ROLE handoff_node NOLOGIN; ALTER ROLE % CREATEROLE; then restart the coordinator', current_user;
END $$;

-- The node accounts of the session's user: NULL for anyone not in the group (the owner: no limit),
-- the registered list for a node, empty for a group member this database does not know (a node
-- of another database on the same server).
CREATE OR REPLACE FUNCTION handoff_caller_accounts() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT CASE WHEN EXISTS (
      SELECT 1 FROM pg_catalog.pg_auth_members m
      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid AND g.rolname = 'handoff_node'
      JOIN pg_catalog.pg_roles u ON u.oid = m.member AND u.rolname = session_user)
    THEN coalesce((SELECT accounts FROM nodes WHERE role_name = session_user), '{}'::text[])
  END
$$;

CREATE OR REPLACE FUNCTION handoff_may_hold(accounts text[], channel text, account text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
  SELECT accounts IS NULL OR channel || ':*' = ANY(accounts) OR channel || ':' || account = ANY(accounts)
$$;

-- scopesCovering (libs/contracts gate.ts): global, the channel, channel:account
CREATE OR REPLACE FUNCTION handoff_gate_open(channel text, account text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
  SELECT NOT EXISTS (SELECT 1 FROM gates g
    WHERE NOT g.enabled AND g.scope IN ('global', channel, channel || ':' || account))
$$;

-- The lease claim (libs/intents sql/claim.ts): states from stateMachine.ts `lease`.
CREATE OR REPLACE FUNCTION handoff_claim_leases(p_ids uuid[], p_owner text, p_ttl_seconds double precision,
  p_held_keys text[]) RETURNS TABLE (intent intents, open_attempt json)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH me AS (SELECT handoff_caller_accounts() AS accounts),
  locked AS (SELECT id FROM intents WHERE id = ANY(p_ids) ORDER BY id FOR UPDATE)
  UPDATE intents i SET
    state = 'running',
    lease_epoch = i.lease_epoch + 1,
    lease_owner = p_owner,
    lease_expires_at = clock_timestamp() + make_interval(secs => p_ttl_seconds),
    updated_at = clock_timestamp()
  FROM locked, me
  WHERE i.id = locked.id
    AND i.state IN ('approved', 'retry_wait', 'running')
    AND CASE WHEN i.state = 'running'
          THEN i.lease_expires_at < clock_timestamp()
          ELSE (i.run_after IS NULL OR i.run_after <= clock_timestamp()) END
    AND (NOT i.requires_approval OR (
          i.approved_payload_hash = i.payload_hash
          -- an approval is needed to start; once leased, retries and takeovers carry on
          AND (i.lease_epoch > 0 OR i.approval_expires_at > clock_timestamp())))
    AND (i.channel || ':*' = ANY(p_held_keys) OR i.channel || ':' || i.account = ANY(p_held_keys))
    AND handoff_may_hold(me.accounts, i.channel, i.account)
    AND handoff_gate_open(i.channel, i.account)
  RETURNING i,
    (SELECT row_to_json(a) FROM (
       SELECT attempt_no, lease_epoch, executor_id, started_at FROM attempts
       WHERE intent_id = i.id AND finished_at IS NULL ORDER BY attempt_no DESC LIMIT 1) a)
$$;

CREATE OR REPLACE FUNCTION handoff_renew_lease(p_id uuid, p_owner text, p_epoch integer,
  p_ttl_seconds double precision) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH renewed AS (
    UPDATE intents SET lease_expires_at = clock_timestamp() + make_interval(secs => p_ttl_seconds)
    WHERE id = p_id AND lease_epoch = p_epoch AND lease_owner = p_owner AND state = 'running'
      AND handoff_may_hold(handoff_caller_accounts(), channel, account)
    RETURNING 1)
  SELECT count(*) = 1 FROM renewed
$$;

-- The write-ahead attempts (sql/attempt.ts insertAttempts); the caller holds the gate lock.
CREATE OR REPLACE FUNCTION handoff_insert_attempts(p_executor_id text, p_ids uuid[], p_epochs integer[],
  p_token_keys text[]) RETURNS TABLE (intent_id uuid, attempt_no integer, started_at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH me AS (SELECT handoff_caller_accounts() AS accounts),
  input AS (SELECT * FROM unnest(p_ids, p_epochs, p_token_keys) AS t(id, epoch, token_key)),
  fenced AS (
    UPDATE intents i SET attempt_count = i.attempt_count + 1, updated_at = clock_timestamp()
    FROM input, me
    WHERE i.id = input.id AND i.lease_epoch = input.epoch AND i.state = 'running'
      AND handoff_may_hold(me.accounts, i.channel, i.account)
      AND handoff_gate_open(i.channel, i.account)
    RETURNING i.id, i.attempt_count, input.epoch, input.token_key)
  INSERT INTO attempts (intent_id, attempt_no, lease_epoch, executor_id, started_at)
  SELECT id, attempt_count, epoch, p_executor_id,
    coalesce((SELECT refilled_at FROM rate_buckets WHERE key = fenced.token_key), clock_timestamp())
  FROM fenced
  RETURNING intent_id, attempt_no, started_at
$$;

CREATE OR REPLACE FUNCTION handoff_close_abandoned_attempt(p_id uuid, p_epoch integer, p_abandoned_epoch integer,
  p_outcome text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH closed AS (
    UPDATE attempts a SET finished_at = clock_timestamp(), outcome = p_outcome
    FROM intents i
    WHERE a.intent_id = p_id AND a.lease_epoch = p_abandoned_epoch AND a.finished_at IS NULL
      AND i.id = a.intent_id AND i.lease_epoch = p_epoch AND i.state = 'running'
      AND handoff_may_hold(handoff_caller_accounts(), i.channel, i.account)
    RETURNING a.id)
  SELECT count(*) = 1 FROM closed
$$;

-- Success receipts for a batch (sql/receipt.ts): `succeed` from running; source execute or reconcile.
CREATE OR REPLACE FUNCTION handoff_append_success_receipts(p_ids uuid[], p_epochs integer[], p_attempt_nos integer[],
  p_external_ids text[], p_urls text[], p_executor_ids text[], p_sources text[], p_outcomes text[])
  RETURNS SETOF uuid
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH me AS (SELECT handoff_caller_accounts() AS accounts),
  input AS (
    SELECT * FROM unnest(p_ids, p_epochs, p_attempt_nos, p_external_ids, p_urls, p_executor_ids, p_sources, p_outcomes)
      AS t(id, epoch, attempt_no, external_id, url, executor_id, source, outcome)
    WHERE source IN ('execute', 'reconcile')),
  fenced AS (
    UPDATE intents i SET state = 'succeeded', lease_owner = NULL, lease_expires_at = NULL,
      last_error = NULL, state_reason = CASE WHEN input.source = 'reconcile' THEN 'reconciled after takeover' END,
      updated_at = clock_timestamp()
    FROM input, me
    WHERE i.id = input.id AND i.lease_epoch = input.epoch AND i.state = 'running'
      AND handoff_may_hold(me.accounts, i.channel, i.account)
    RETURNING input.*),
  closed AS (
    UPDATE attempts a SET finished_at = clock_timestamp(), outcome = f.outcome
    FROM fenced f WHERE a.intent_id = f.id AND a.finished_at IS NULL)
  INSERT INTO receipts (intent_id, attempt_no, lease_epoch, kind, external_id, url, executor_id, source)
  SELECT id, attempt_no, epoch, 'success', external_id, url, executor_id, source FROM fenced
  RETURNING intent_id
$$;

-- A terminal failure: `die` -> dead, `doubt` -> in_doubt (reasons as stateMachine.ts words them).
CREATE OR REPLACE FUNCTION handoff_append_failure_receipt(p_id uuid, p_epoch integer, p_executor_id text, p_to text,
  p_attempt_no integer, p_error_class text, p_message text, p_source text, p_count_failure boolean) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH t AS (
    SELECT * FROM (VALUES
      ('die', 'dead', 'dead', 'a permanent failure, or the attempt budget is spent'),
      ('doubt', 'in_doubt', 'in_doubt', 'the effect may or may not have happened; a person decides'))
      AS v(name, state, outcome, why)
    WHERE name = p_to AND p_source IN ('execute', 'reconcile')),
  fenced AS (
    UPDATE intents i SET state = t.state, lease_owner = NULL, lease_expires_at = NULL,
      failed_attempts = failed_attempts + CASE WHEN p_count_failure THEN 1 ELSE 0 END,
      last_error = p_message, state_reason = t.why, updated_at = clock_timestamp()
    FROM t
    WHERE i.id = p_id AND i.lease_epoch = p_epoch AND i.state = 'running'
      AND handoff_may_hold(handoff_caller_accounts(), i.channel, i.account)
    RETURNING i.id, t.outcome),
  closed AS (
    UPDATE attempts SET finished_at = clock_timestamp(), outcome = (SELECT outcome FROM fenced),
      error_class = p_error_class, error_message = p_message
    WHERE intent_id = p_id AND finished_at IS NULL AND EXISTS (SELECT 1 FROM fenced)),
  written AS (
    INSERT INTO receipts (intent_id, attempt_no, lease_epoch, kind, error_class, error_message, executor_id, source)
    SELECT id, p_attempt_no, p_epoch, 'failure', p_error_class, p_message, p_executor_id, p_source FROM fenced
    RETURNING id)
  SELECT count(*) = 1 FROM written
$$;

-- `release`: approved again, no attempt burned; the caller re-tickets in the same transaction.
CREATE OR REPLACE FUNCTION handoff_release_lease(p_id uuid, p_epoch integer, p_run_after timestamptz, p_reason text,
  p_attempt_outcome text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE intents SET state = 'approved', lease_owner = NULL, lease_expires_at = NULL,
    run_after = p_run_after, state_reason = p_reason, updated_at = clock_timestamp()
  WHERE id = p_id AND lease_epoch = p_epoch AND state = 'running'
    AND handoff_may_hold(handoff_caller_accounts(), channel, account);
  IF NOT FOUND THEN RETURN false; END IF;
  IF p_attempt_outcome IS NOT NULL THEN
    -- only this epoch's attempt: an earlier holder's open attempt still needs reconciling
    UPDATE attempts SET finished_at = clock_timestamp(), outcome = p_attempt_outcome
    WHERE intent_id = p_id AND lease_epoch = p_epoch AND finished_at IS NULL;
  END IF;
  RETURN true;
END
$$;

-- `retryLater`: retry_wait until p_run_after, this epoch's attempt closed as retryable.
CREATE OR REPLACE FUNCTION handoff_schedule_retry(p_id uuid, p_epoch integer, p_run_after timestamptz,
  p_error_class text, p_message text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE intents SET state = 'retry_wait', lease_owner = NULL, lease_expires_at = NULL,
    failed_attempts = failed_attempts + 1, run_after = p_run_after, last_error = p_message,
    state_reason = 'a retryable failure with attempts left; waits out backoff', updated_at = clock_timestamp()
  WHERE id = p_id AND lease_epoch = p_epoch AND state = 'running'
    AND handoff_may_hold(handoff_caller_accounts(), channel, account);
  IF NOT FOUND THEN RETURN false; END IF;
  UPDATE attempts SET finished_at = clock_timestamp(), outcome = 'retryable',
    error_class = p_error_class, error_message = p_message
  WHERE intent_id = p_id AND lease_epoch = p_epoch AND finished_at IS NULL;
  RETURN true;
END
$$;

-- The sweeper's pass (sql/sweep.ts; the caller holds the sweeper lock). Expiring undecided intents
-- and lapsed approvals is the owner's: a node's sweep only re-tickets, so a node cannot expire
-- intents by passing a TTL of 0. Answers {expired, stranded: [{id, channel}]}.
CREATE OR REPLACE FUNCTION handoff_sweep(p_pending_ttl_seconds double precision,
  p_eligible_grace_seconds double precision, p_reissue_seconds double precision, p_batch integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_expired bigint := 0;
  v_count bigint;
  v_stranded jsonb;
BEGIN
  IF handoff_caller_accounts() IS NULL THEN
    UPDATE intents SET state = 'expired', state_reason = 'nobody approved or rejected it in time',
      updated_at = clock_timestamp()
    WHERE state = 'pending_approval'
      AND created_at < clock_timestamp() - make_interval(secs => p_pending_ttl_seconds);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    v_expired := v_count;
    UPDATE intents SET state = 'expired', state_reason = 'the approval lapsed before the first lease',
      updated_at = clock_timestamp()
    WHERE state = 'approved' AND requires_approval AND lease_epoch = 0 AND approval_expires_at < clock_timestamp();
    GET DIAGNOSTICS v_count = ROW_COUNT;
    v_expired := v_expired + v_count;
  END IF;
  WITH s AS (
    SELECT i.id FROM intents i
    WHERE ((i.state = 'running' AND i.lease_expires_at < clock_timestamp())
        OR (i.state IN ('approved', 'retry_wait')
            AND COALESCE(i.run_after, i.updated_at) < clock_timestamp() - make_interval(secs => p_eligible_grace_seconds)))
      AND (i.swept_at IS NULL OR i.swept_at < clock_timestamp() - make_interval(secs => p_reissue_seconds))
      AND handoff_gate_open(i.channel, i.account)
    ORDER BY i.updated_at
    LIMIT p_batch
    FOR UPDATE SKIP LOCKED),
  u AS (UPDATE intents SET swept_at = clock_timestamp() FROM s WHERE intents.id = s.id
    RETURNING intents.id, intents.channel)
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.id, 'channel', u.channel)), '[]'::jsonb) INTO v_stranded FROM u;
  RETURN jsonb_build_object('expired', v_expired, 'stranded', v_stranded);
END
$$;

-- The group's rights, exact. Run by this migration and again by every `node add` (pg-boss creates
-- its schema after the migrations, so its grants can only follow then). Idempotent.
CREATE OR REPLACE FUNCTION handoff_grant_node_group() RETURNS boolean
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_node') THEN RETURN false; END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO handoff_node', current_database());
  BEGIN
    -- no temporary tables for anyone not granted them: a node creates no objects at all
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'handoff: could not revoke TEMPORARY on this database or CREATE on schema public from PUBLIC '
      '(not the owner); a node could create temporary or public objects until the owner does';
  END;
  GRANT USAGE ON SCHEMA public TO handoff_node;
  -- the heartbeat row, the gate listener, rate-limit tokens, the schema version check
  GRANT SELECT, INSERT, UPDATE ON executors TO handoff_node;
  GRANT SELECT ON gates, handoff_migrations TO handoff_node;
  GRANT SELECT, UPDATE ON rate_buckets TO handoff_node;
  -- the fleet's policy (a later migration's table): read, never written
  IF to_regclass('fleet_policy') IS NOT NULL THEN
    GRANT SELECT ON fleet_policy TO handoff_node;
  END IF;
  GRANT EXECUTE ON FUNCTION handoff_claim_leases(uuid[], text, double precision, text[]),
    handoff_renew_lease(uuid, text, integer, double precision),
    handoff_insert_attempts(text, uuid[], integer[], text[]),
    handoff_close_abandoned_attempt(uuid, integer, integer, text),
    handoff_append_success_receipts(uuid[], integer[], integer[], text[], text[], text[], text[], text[]),
    handoff_append_failure_receipt(uuid, integer, text, text, integer, text, text, text, boolean),
    handoff_release_lease(uuid, integer, timestamptz, text, text),
    handoff_schedule_retry(uuid, integer, timestamptz, text, text),
    handoff_sweep(double precision, double precision, double precision, integer)
    TO handoff_node;
  -- pg-boss fetches, completes and inserts tickets; losing one loses nothing (the sweeper re-tickets)
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgboss') THEN
    GRANT USAGE ON SCHEMA pgboss TO handoff_node;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgboss TO handoff_node;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA pgboss TO handoff_node;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgboss TO handoff_node;
  END IF;
  RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION handoff_caller_accounts(), handoff_may_hold(text[], text, text),
  handoff_gate_open(text, text),
  handoff_claim_leases(uuid[], text, double precision, text[]),
  handoff_renew_lease(uuid, text, integer, double precision),
  handoff_insert_attempts(text, uuid[], integer[], text[]),
  handoff_close_abandoned_attempt(uuid, integer, integer, text),
  handoff_append_success_receipts(uuid[], integer[], integer[], text[], text[], text[], text[], text[]),
  handoff_append_failure_receipt(uuid, integer, text, text, integer, text, text, text, boolean),
  handoff_release_lease(uuid, integer, timestamptz, text, text),
  handoff_schedule_retry(uuid, integer, timestamptz, text, text),
  handoff_sweep(double precision, double precision, double precision, integer),
  handoff_grant_node_group()
  FROM PUBLIC;

SELECT handoff_grant_node_group();
