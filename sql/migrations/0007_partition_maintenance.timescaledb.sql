-- The same signature as on plain PostgreSQL, where expiry drops partitions in bounded
-- steps. On TimescaleDB the retention policies expire chunks, so this stays a no-op.
DROP FUNCTION expire_heartbeats(timestamptz);

CREATE FUNCTION expire_heartbeats(now_ts timestamptz DEFAULT now(), max_drops integer DEFAULT 50)
RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;
