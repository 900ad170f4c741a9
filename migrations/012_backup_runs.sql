-- Backups (issue 15; docs/operations.md "Backups and restore"). One row per backup attempt, scheduled
-- by the coordinator or asked for by `handoff backup`: written `running` before the copy starts and
-- finished `ok` (with the manifest) or `failed` (with the error), so a backup that never finished is
-- visible too. The notifier turns new failed rows into "backup failed" notifications, and `handoff
-- doctor` reads the age of the last ok one. The manifest is the copy's own manifest.json (time,
-- schema version, row counts, sha256 of every file). No node role grant: nodes never see it.
CREATE TABLE IF NOT EXISTS backup_runs (
  id           bigserial PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at  timestamptz,
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
  kind         text NOT NULL CHECK (kind IN ('scheduled', 'manual')),
  dir          text,
  error        text,
  manifest     jsonb
);
CREATE INDEX IF NOT EXISTS backup_runs_started_at ON backup_runs (started_at DESC);
CREATE INDEX IF NOT EXISTS backup_runs_status_started_at ON backup_runs (status, started_at DESC);
