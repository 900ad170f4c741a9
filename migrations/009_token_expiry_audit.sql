-- Tokens that expire (issue 12): a token with an expires_at in the past is refused like a revoked
-- one. Null means it works until revoked, as every token made before this migration does.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;

-- The audit log is read now (GET /v1/audit, `handoff audit`): newest first by id (the primary key
-- serves that), and by what a row is about (an intent's page lists its audit rows).
CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log (target, id DESC);
