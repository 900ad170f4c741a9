-- Notifications (issue 12; docs/console.md "Notifications"). The coordinator's notifier notices
-- events in the database (intents waiting for approval, dead, in doubt; stale executors, opened
-- breakers, gate changes, quarantined model nodes, failed backups), folds each burst into one digest
-- per target, and writes each digest as a `notify` intent an executor performs.

-- How far the notifier has read each event source: the largest database time of an event it noticed.
-- Advanced in the transaction that records what it noticed.
CREATE TABLE IF NOT EXISTS notify_cursors (
  source    text PRIMARY KEY,
  position  timestamptz NOT NULL
);

-- A digest: the window the first unfolded event opened (closes_at), then sealed with every event
-- waiting at that moment, then sent (one notify intent per target, key `notify:<target>:<id>`).
CREATE TABLE IF NOT EXISTS notify_digests (
  id         bigserial PRIMARY KEY,
  opened_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  closes_at  timestamptz NOT NULL,
  sealed_at  timestamptz,
  sent_at    timestamptz
);
-- at most one open window at a time
CREATE UNIQUE INDEX IF NOT EXISTS notify_digests_one_open ON notify_digests ((true)) WHERE sealed_at IS NULL;
CREATE INDEX IF NOT EXISTS notify_digests_unsent ON notify_digests (id) WHERE sealed_at IS NOT NULL AND sent_at IS NULL;

-- Every event noticed, once: `key` names the event itself (`dead:<intent>:<when>`), so an event read
-- twice (a source is re-read a little behind its cursor, for late commits) is recorded once.
CREATE TABLE IF NOT EXISTS notify_events (
  id         bigserial PRIMARY KEY,
  key        text NOT NULL UNIQUE,
  event      text NOT NULL,
  subject    text NOT NULL,
  -- the intent it is about (its console page), if any
  intent_id  uuid,
  at         timestamptz NOT NULL,
  noticed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  digest_id  bigint REFERENCES notify_digests (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS notify_events_unfolded ON notify_events (id) WHERE digest_id IS NULL;
CREATE INDEX IF NOT EXISTS notify_events_digest ON notify_events (digest_id);

-- The coordinator's alone: an executor's role (migration 005) neither reads nor writes them.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_node') THEN
    REVOKE ALL ON notify_cursors, notify_digests, notify_events FROM handoff_node;
  END IF;
END $$;
