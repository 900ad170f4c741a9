-- Token names become unique, ignoring case (issue 9): a name is a label people read, so one name
-- must mean one token. Identity in audit rows, intents and approvals is the token's id and role
-- (`<role>:<id>`), never its name.
--
-- Tokens that already share a name keep working: the oldest keeps the name, each later one gets
-- the first free `<name>-2`, `<name>-3`, ..., and every rename is written to the audit log.
DO $$
DECLARE
  t record;
  candidate text;
  n integer;
BEGIN
  FOR t IN
    SELECT id, name FROM (
      SELECT id, name, row_number() OVER (PARTITION BY lower(name) ORDER BY created_at, id) AS rank
      FROM api_tokens
      WHERE name IS NOT NULL
    ) ranked
    WHERE rank > 1
    ORDER BY lower(name), rank
  LOOP
    n := 2;
    LOOP
      candidate := t.name || '-' || n;
      EXIT WHEN NOT EXISTS (SELECT 1 FROM api_tokens WHERE lower(name) = lower(candidate));
      n := n + 1;
    END LOOP;
    UPDATE api_tokens SET name = candidate WHERE id = t.id;
    INSERT INTO audit_log (actor, action, target, details)
    VALUES ('handoff:migration', 'token.rename', t.id::text,
            jsonb_build_object('from', t.name, 'to', candidate, 'why', 'token names became unique (003_token_names.sql)'));
  END LOOP;
END $$;

CREATE UNIQUE INDEX api_tokens_name_unique ON api_tokens (lower(name));

-- Who ran the session a tool call belongs to, as `<role>:<token id>` (null on rows written before).
ALTER TABLE agent_audit ADD COLUMN actor text;
