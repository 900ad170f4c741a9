-- handoff schema, version 1. Never edit once landed: add a new numbered file instead.

CREATE TABLE intents (
  id                   uuid PRIMARY KEY,
  idempotency_key      text NOT NULL,
  channel              text NOT NULL,
  account              text NOT NULL,
  payload              jsonb NOT NULL,
  payload_hash         text NOT NULL,
  state                text NOT NULL,
  requires_approval    boolean NOT NULL,
  created_by           text,
  created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  not_before           timestamptz,
  -- earliest moment the next lease may be taken (notBefore, backoff, rate limit, breaker)
  run_after            timestamptz,
  approved_by          text,
  approved_at          timestamptz,
  approved_payload_hash text,
  approval_expires_at  timestamptz,
  -- connector calls made, and of those the failures that count against max_attempts
  attempt_count        integer NOT NULL DEFAULT 0,
  failed_attempts      integer NOT NULL DEFAULT 0,
  max_attempts         integer NOT NULL,
  lease_owner          text,
  lease_epoch          integer NOT NULL DEFAULT 0,
  lease_expires_at     timestamptz,
  last_error           text,
  state_reason         text,
  -- when the sweeper last issued a ticket for this intent, so it does not re-issue every pass
  swept_at             timestamptz,
  CONSTRAINT intents_idempotency_key_unique UNIQUE (idempotency_key),
  CONSTRAINT intents_state_valid CHECK (state IN ('pending_approval','approved','running','retry_wait',
    'succeeded','rejected','expired','dead','in_doubt'))
);
CREATE INDEX intents_state_channel ON intents (state, channel);
CREATE INDEX intents_running_expiry ON intents (lease_expires_at) WHERE state = 'running';
CREATE INDEX intents_runnable ON intents (run_after) WHERE state IN ('approved', 'retry_wait');
CREATE INDEX intents_updated ON intents (updated_at DESC);

-- Write-ahead record of every connector call: written before the call, closed after it.
CREATE TABLE attempts (
  id            bigserial PRIMARY KEY,
  intent_id     uuid NOT NULL REFERENCES intents (id),
  attempt_no    integer NOT NULL,
  lease_epoch   integer NOT NULL,
  executor_id   text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at   timestamptz,
  outcome       text,
  error_class   text,
  error_message text,
  CONSTRAINT attempts_one_per_epoch UNIQUE (intent_id, lease_epoch)
);
CREATE INDEX attempts_open ON attempts (intent_id) WHERE finished_at IS NULL;

CREATE TABLE receipts (
  id            bigserial PRIMARY KEY,
  intent_id     uuid NOT NULL REFERENCES intents (id),
  attempt_no    integer,
  lease_epoch   integer,
  kind          text NOT NULL CHECK (kind IN ('success', 'failure')),
  external_id   text,
  url           text,
  error_class   text,
  error_message text,
  executor_id   text,
  source        text NOT NULL CHECK (source IN ('execute', 'reconcile', 'operator')),
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX receipts_one_success ON receipts (intent_id) WHERE kind = 'success';
CREATE INDEX receipts_intent ON receipts (intent_id);
CREATE INDEX receipts_recent ON receipts (created_at DESC);

CREATE FUNCTION handoff_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'raise_exception';
END
$$;
CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE ON receipts
  FOR EACH ROW EXECUTE FUNCTION handoff_forbid_change();
CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts
  FOR EACH STATEMENT EXECUTE FUNCTION handoff_forbid_change();

CREATE TABLE approvals (
  id            bigserial PRIMARY KEY,
  intent_id     uuid NOT NULL REFERENCES intents (id),
  decision      text NOT NULL CHECK (decision IN ('approve', 'reject')),
  actor         text NOT NULL,
  reason        text,
  payload_hash  text NOT NULL,
  expires_at    timestamptz,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX approvals_intent ON approvals (intent_id);

CREATE TABLE gates (
  scope       text PRIMARY KEY,
  enabled     boolean NOT NULL,
  reason      text,
  updated_by  text,
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE gate_history (
  id          bigserial PRIMARY KEY,
  scope       text NOT NULL,
  enabled     boolean NOT NULL,
  reason      text,
  actor       text,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE rate_buckets (
  key               text PRIMARY KEY,
  capacity          double precision NOT NULL CHECK (capacity > 0),
  refill_per_second double precision NOT NULL CHECK (refill_per_second > 0),
  tokens            double precision NOT NULL,
  refilled_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- a provider's 429 with Retry-After drains the bucket until then
  blocked_until     timestamptz,
  -- the next free place in the line of callers denied a token (see queueForToken)
  next_slot_at      timestamptz
);

CREATE TABLE executors (
  id            text PRIMARY KEY,
  host          text NOT NULL,
  pid           integer NOT NULL,
  started_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL,
  status        text NOT NULL,
  channels      jsonb NOT NULL DEFAULT '[]',
  breakers      jsonb NOT NULL DEFAULT '[]',
  local_gate_enabled boolean NOT NULL DEFAULT true,
  in_flight     integer NOT NULL DEFAULT 0
);

CREATE TABLE api_tokens (
  id          uuid PRIMARY KEY,
  name        text,
  role        text NOT NULL CHECK (role IN ('operator', 'agent', 'viewer')),
  token_hash  text NOT NULL UNIQUE,
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked_at  timestamptz,
  last_used_at timestamptz
);

-- Every operator action: approvals, gates, retries, resolutions, token creation.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  actor       text NOT NULL,
  action      text NOT NULL,
  target      text,
  details     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION handoff_forbid_change();
