SELECT name, rate_limit_per_minute, retention_days, min_interval_seconds, heartbeats_table
FROM plans
ORDER BY rate_limit_per_minute
