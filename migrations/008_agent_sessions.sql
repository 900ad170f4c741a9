-- Durable agent sessions (issue 13): a session, its conversation as the model saw it, and the events
-- a person reads back (guard decisions, intents, context-window actions). Written as the run goes,
-- so a coordinator that dies leaves a session that can be resumed from its last complete turn.

CREATE TABLE IF NOT EXISTS agent_sessions (
  id                uuid PRIMARY KEY,
  task              text NOT NULL,
  -- the model the run asked for, and the one it runs on now (an escalation moves it up the chain)
  model             text NOT NULL,
  current_model     text NOT NULL,
  working_dir       text NOT NULL,
  max_turns         integer NOT NULL,
  -- the token that started it owns it: `<role>:<token id>` and the token id (stop, resume, show)
  actor             text NOT NULL,
  owner_token_id    text NOT NULL,
  state             text NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'done', 'failed', 'stopped', 'interrupted')),
  turns             integer NOT NULL DEFAULT 0,
  prompt_tokens     integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  tokens_estimated  boolean NOT NULL DEFAULT false,
  started_at        timestamptz NOT NULL DEFAULT now(),
  ended_at          timestamptz,
  -- run time of earlier attempts (a resumed session adds the time of each)
  active_ms         bigint NOT NULL DEFAULT 0,
  resumed_at        timestamptz,
  resumes           integer NOT NULL DEFAULT 0,
  error_code        text,
  error_message     text,
  summary           text
);
CREATE INDEX IF NOT EXISTS agent_sessions_started ON agent_sessions (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS agent_sessions_running ON agent_sessions (id) WHERE state = 'running';

-- The conversation after the system prompt and the task, in order. `summary` rows are compactions:
-- one stands for every message with seq <= summarised_through.
CREATE TABLE IF NOT EXISTS agent_messages (
  session_id         uuid NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
  seq                integer NOT NULL,
  turn               integer NOT NULL,
  role               text NOT NULL CHECK (role IN ('assistant', 'tool', 'summary')),
  content            text,
  tool_calls         jsonb,
  tool_call_id       text,
  summarised_through integer,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, seq)
);

-- Events worth reading back (not text deltas): blocked, approval_required, intent_proposed, context,
-- session_resumed, done, error.
CREATE TABLE IF NOT EXISTS agent_session_events (
  id         bigserial PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES agent_sessions (id) ON DELETE CASCADE,
  type       text NOT NULL,
  body       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS agent_session_events_session ON agent_session_events (session_id, id);
