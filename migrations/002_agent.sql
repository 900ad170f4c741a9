-- The agent loop (issue 4): command approvals (the exec guard's "ask") and the audit of every tool call.

CREATE TABLE command_approvals (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id      text NOT NULL,
  command         text NOT NULL,
  cwd             text NOT NULL,
  -- sha256(cwd || NUL || command), hex: an approval is bound to this exact command in this directory
  command_hash    text NOT NULL,
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
  rule            text NOT NULL,
  reason          text NOT NULL,
  requested_at    timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  decided_at      timestamptz,
  decided_by      text,
  decision_reason text
);
CREATE INDEX command_approvals_pending ON command_approvals (requested_at) WHERE state = 'pending';

CREATE TABLE agent_audit (
  id           bigserial PRIMARY KEY,
  ts           timestamptz NOT NULL DEFAULT now(),
  session_id   text NOT NULL,
  tool_call_id text NOT NULL,
  tool_name    text NOT NULL,
  -- arguments with secrets redacted
  args         jsonb NOT NULL,
  duration_ms  integer NOT NULL,
  blocked      boolean NOT NULL,
  -- the guard's decision for bash (allow/ask/deny, approved/rejected/expired), or invalid/stopped/ok/error
  decision     text,
  exit_code    integer
);
CREATE INDEX agent_audit_session ON agent_audit (session_id, id);
