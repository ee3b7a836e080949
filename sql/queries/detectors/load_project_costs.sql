-- Today's cost of every project that has a daily budget, in its budget day.
WITH zones AS (
    SELECT p.id, p.daily_budget_usd, detector_timezone(p.budget_timezone) AS timezone
    FROM projects p
    WHERE p.daily_budget_usd IS NOT NULL
)
SELECT zones.id, zones.daily_budget_usd::float8, zones.timezone,
       (%(now)s AT TIME ZONE zones.timezone)::date AS day,
       COALESCE(sum(c.cost_usd), 0) AS cost_usd,
       COALESCE(sum(c.unpriced_calls), 0) AS unpriced_calls,
       COALESCE(sum(c.unknown_usage_calls), 0) AS unknown_usage_calls
FROM zones
LEFT JOIN detector_daily_costs c
       ON c.project_id = zones.id AND c.day = (%(now)s AT TIME ZONE zones.timezone)::date
GROUP BY zones.id, zones.daily_budget_usd, zones.timezone
