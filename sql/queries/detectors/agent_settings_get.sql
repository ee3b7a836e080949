-- An agent's settings, for the agents API; no row for another project's agent.
SELECT id, name, agent_type, enabled, max_tool_calls_per_minute, max_identical_messages,
       token_spike_multiplier, daily_budget_usd::float8 AS daily_budget_usd,
       expected_interval_seconds, auto_restart, on_loop, on_cost_exceeded, restart_type,
       restart_target, status, status_reason, warning
FROM agents
WHERE id = %(id)s AND project_id = %(project_id)s
