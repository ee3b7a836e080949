-- Daily heartbeat partitions on plain PostgreSQL; a no-op on TimescaleDB.
SELECT ensure_heartbeat_partitions(current_date - 1, current_date + 2)
