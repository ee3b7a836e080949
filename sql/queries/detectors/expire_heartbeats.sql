-- Retention on plain PostgreSQL; a no-op on TimescaleDB, whose policies expire chunks.
SELECT expire_heartbeats()
