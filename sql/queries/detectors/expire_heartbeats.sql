-- Retention on plain PostgreSQL, relative to the cycle's time; a no-op on TimescaleDB,
-- whose retention policies expire chunks.
SELECT expire_heartbeats(%(now)s)
