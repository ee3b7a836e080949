-- Change the settings the request named (set_<column> is true) and keep the others.
-- Disabling an agent clears its warning, since the detectors no longer judge it.
UPDATE agents SET
    max_tool_calls_per_minute = CASE WHEN %(set_max_tool_calls_per_minute)s
        THEN %(max_tool_calls_per_minute)s::integer ELSE max_tool_calls_per_minute END,
    max_identical_messages = CASE WHEN %(set_max_identical_messages)s
        THEN %(max_identical_messages)s::integer ELSE max_identical_messages END,
    token_spike_multiplier = CASE WHEN %(set_token_spike_multiplier)s
        THEN %(token_spike_multiplier)s::float8 ELSE token_spike_multiplier END,
    daily_budget_usd = CASE WHEN %(set_daily_budget_usd)s
        THEN %(daily_budget_usd)s::numeric ELSE daily_budget_usd END,
    expected_interval_seconds = CASE WHEN %(set_expected_interval_seconds)s
        THEN %(expected_interval_seconds)s::integer ELSE expected_interval_seconds END,
    auto_restart = CASE WHEN %(set_auto_restart)s
        THEN %(auto_restart)s::boolean ELSE auto_restart END,
    on_loop = CASE WHEN %(set_on_loop)s THEN %(on_loop)s::text ELSE on_loop END,
    on_cost_exceeded = CASE WHEN %(set_on_cost_exceeded)s
        THEN %(on_cost_exceeded)s::text ELSE on_cost_exceeded END,
    enabled = CASE WHEN %(set_enabled)s THEN %(enabled)s::boolean ELSE enabled END,
    warning = CASE WHEN %(set_enabled)s AND NOT %(enabled)s::boolean THEN NULL ELSE warning END
WHERE id = %(id)s AND project_id = %(project_id)s
RETURNING id
