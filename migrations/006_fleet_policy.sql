-- One policy for the whole fleet: the coordinator publishes policy.json here (decision 89) and every
-- executor applies it; each executor's heartbeat says what it runs and what its clock reads.

-- One row per published version; a version is never rewritten, so the history shows what ran when.
CREATE TABLE IF NOT EXISTS fleet_policy (
  version      integer PRIMARY KEY CHECK (version > 0),
  -- sha256 of the policy's canonical JSON (keys sorted): the same policy always hashes the same
  sha256       text NOT NULL,
  policy       jsonb NOT NULL,
  -- `host:$HANDOFF_HOME` of the publishing coordinator: an executor in that home reads the file itself
  source       text NOT NULL,
  published_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER TABLE executors
  ADD COLUMN IF NOT EXISTS handoff_version text,
  -- the schema version (highest migration number) the executor's code expects
  ADD COLUMN IF NOT EXISTS schema_version  integer,
  -- the fleet policy version it applies; NULL while it follows its own policy.json alone
  ADD COLUMN IF NOT EXISTS policy_version  integer,
  ADD COLUMN IF NOT EXISTS policy_sha256   text,
  -- the executor's own clock when it sent the heartbeat; heartbeat_at is the database's
  ADD COLUMN IF NOT EXISTS reported_clock  timestamptz;

-- Nodes read the fleet's policy and never write it (migration 005's group role, when it exists).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_node') THEN
    GRANT SELECT ON fleet_policy TO handoff_node;
  END IF;
END $$;
