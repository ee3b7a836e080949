-- Every enabled agent with what the cycle judges it by: settings, the latest heartbeat
-- as ingest recorded it, the current status and warning, today's cost in its project's
-- budget day, and the carried loop signals.
WITH zones AS (
    SELECT p.id, detector_timezone(p.budget_timezone) AS timezone
    FROM projects p
)
SELECT a.id, a.project_id, a.name,
       a.expected_interval_seconds, a.max_tool_calls_per_minute, a.max_identical_messages,
       a.token_spike_multiplier, a.daily_budget_usd::float8 AS daily_budget_usd,
       a.auto_restart, a.on_loop, a.on_cost_exceeded, a.restart_type, a.restart_target,
       a.last_heartbeat_at, a.last_client_status, a.last_iteration,
       a.last_iteration_changed_at, a.busy_until, a.busy_reason,
       a.status, a.status_reason, a.status_changed_at, a.warning,
       zones.timezone, (%(now)s AT TIME ZONE zones.timezone)::date AS day,
       COALESCE(c.cost_usd, 0) AS cost_usd,
       COALESCE(c.unpriced_calls, 0) AS unpriced_calls,
       COALESCE(c.unknown_usage_calls, 0) AS unknown_usage_calls,
       s.repetition, s.spike
FROM agents a
JOIN zones ON zones.id = a.project_id
LEFT JOIN detector_daily_costs c
       ON c.agent_id = a.id AND c.day = (%(now)s AT TIME ZONE zones.timezone)::date
LEFT JOIN detector_agent_signals s ON s.agent_id = a.id
WHERE a.enabled
ORDER BY a.id
