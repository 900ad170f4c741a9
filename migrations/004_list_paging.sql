-- Lists page newest first by (created_at, id) with a keyset cursor (GET /v1/intents?cursor=).
CREATE INDEX IF NOT EXISTS intents_created_id ON intents (created_at, id);
