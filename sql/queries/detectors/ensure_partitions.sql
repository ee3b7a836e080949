-- Daily heartbeat partitions around the cycle's day on plain PostgreSQL (the function
-- works in UTC days); a no-op on TimescaleDB, which creates chunks on insert.
SELECT ensure_heartbeat_partitions((%(now)s AT TIME ZONE 'UTC')::date - 1,
                                   (%(now)s AT TIME ZONE 'UTC')::date + 2)
