-- Add the heartbeats received in (after, through] to the per-agent daily totals, each
-- in its project's budget day. An unknown timezone name counts in UTC rather than
-- failing the cycle. Heartbeats of agents deleted since are skipped.
WITH zones AS (
    SELECT p.id, detector_timezone(p.budget_timezone) AS timezone
    FROM projects p
),
counted AS (
    SELECT h.agent_id,
           (h.time AT TIME ZONE zones.timezone)::date AS day,
           h.project_id,
           COALESCE(sum(h.cost_usd), 0) AS cost_usd,
           COALESCE(sum(h.tokens_used), 0) AS tokens_used,
           COALESCE(sum(h.unpriced_calls), 0) AS unpriced_calls,
           COALESCE(sum(h.unknown_usage_calls), 0) AS unknown_usage_calls,
           count(*) AS heartbeats
    FROM heartbeats h
    JOIN zones ON zones.id = h.project_id
    JOIN agents a ON a.id = h.agent_id
    WHERE h.time > %(after)s AND h.time <= %(through)s
    GROUP BY 1, 2, 3
)
INSERT INTO detector_daily_costs AS d (
    agent_id, day, project_id, cost_usd, tokens_used, unpriced_calls, unknown_usage_calls,
    heartbeats
)
SELECT * FROM counted
ON CONFLICT (agent_id, day) DO UPDATE SET
    cost_usd = d.cost_usd + excluded.cost_usd,
    tokens_used = d.tokens_used + excluded.tokens_used,
    unpriced_calls = d.unpriced_calls + excluded.unpriced_calls,
    unknown_usage_calls = d.unknown_usage_calls + excluded.unknown_usage_calls,
    heartbeats = d.heartbeats + excluded.heartbeats
