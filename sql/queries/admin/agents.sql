SELECT a.id, a.name, a.agent_type, a.registered, a.enabled, a.status, a.status_reason,
       a.last_heartbeat_at, a.expected_interval_seconds, a.max_tool_calls_per_minute,
       a.max_identical_messages, a.token_spike_multiplier,
       a.daily_budget_usd::double precision AS daily_budget_usd, a.auto_restart,
       a.restart_type, a.restart_target, a.created_at
FROM agents AS a
WHERE a.project_id = %(project_id)s AND (%(agent)s::text IS NULL OR a.name = %(agent)s)
ORDER BY a.name
