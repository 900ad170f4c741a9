-- The console's sessions and one-time sign-in links (issue 12; docs/console.md).
--
-- A session is what a browser holds instead of a token: the cookie carries a random id, and only its
-- sha256 is stored here, like api_tokens.token_hash. A session acts as the token it was signed in
-- with, so revoking or expiring that token ends its sessions at once (every request re-checks the
-- token), and deleting the token deletes them. The CSRF token is per session; state-changing
-- requests must echo it in a header.
CREATE TABLE IF NOT EXISTS console_sessions (
  id_hash     text PRIMARY KEY,
  token_id    uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  csrf_token  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expires_at ON console_sessions (expires_at);

-- The link `handoff start` prints: the code (its sha256 here) signs in once, within a few minutes.
CREATE TABLE IF NOT EXISTS console_signin_codes (
  code_hash   text PRIMARY KEY,
  token_id    uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX IF NOT EXISTS console_signin_codes_expires_at ON console_signin_codes (expires_at);
