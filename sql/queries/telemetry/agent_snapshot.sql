-- Per-agent gauges and cumulative counters, for /metrics (every project) and the OTLP
-- export (one project). Counters are the folded totals plus the rows at or after the
-- watermark, read in one statement so that a concurrent fold is seen whole or not at all.
-- Parameters: project_id (NULL for every project), max_agents (the first agents by id).
WITH watermark AS (
    SELECT folded_before FROM telemetry_watermark
),
live AS (
    SELECT h.agent_id,
           count(*)                          AS heartbeats,
           coalesce(sum(h.tokens_used), 0)   AS tokens,
           coalesce(sum(h.input_tokens), 0)  AS input_tokens,
           coalesce(sum(h.output_tokens), 0) AS output_tokens,
           coalesce(sum(h.cost_usd), 0)      AS cost_usd
    FROM heartbeats h, watermark w
    WHERE h.time >= w.folded_before
      AND (%(project_id)s::bigint IS NULL OR h.project_id = %(project_id)s::bigint)
    GROUP BY h.agent_id
)
SELECT a.id                                                   AS agent_id,
       p.id                                                   AS project_id,
       p.name                                                 AS project,
       a.name                                                 AS agent,
       a.status,
       extract(epoch FROM a.created_at)::float8               AS created_at,
       extract(epoch FROM a.last_heartbeat_at)::float8        AS last_heartbeat_at,
       extract(epoch FROM now() - a.last_heartbeat_at)::float8 AS heartbeat_age_seconds,
       CASE WHEN a.status IN ('healthy', 'degraded')
            THEN extract(epoch FROM now() - coalesce(up.since, a.created_at))::float8
            ELSE 0 END                                        AS uptime_seconds,
       coalesce(t.heartbeats, 0) + coalesce(l.heartbeats, 0)  AS heartbeats,
       (coalesce(t.tokens, 0) + coalesce(l.tokens, 0))::bigint AS tokens,
       (coalesce(t.input_tokens, 0) + coalesce(l.input_tokens, 0))::bigint AS input_tokens,
       (coalesce(t.output_tokens, 0) + coalesce(l.output_tokens, 0))::bigint AS output_tokens,
       (coalesce(t.cost_usd, 0) + coalesce(l.cost_usd, 0))::float8 AS cost_usd
FROM agents a
JOIN projects p ON p.id = a.project_id
LEFT JOIN agent_counter_totals t ON t.agent_id = a.id
LEFT JOIN live l ON l.agent_id = a.id
-- The agent has been up since it last left dead or unknown (or since it was created,
-- when those events have expired).
LEFT JOIN LATERAL (
    SELECT e.time AS since
    FROM agent_events e
    WHERE e.agent_id = a.id AND e.type = 'status_changed'
      AND e.details ->> 'from' IN ('dead', 'unknown')
    ORDER BY e.time DESC
    LIMIT 1
) up ON a.status IN ('healthy', 'degraded')
WHERE %(project_id)s::bigint IS NULL OR a.project_id = %(project_id)s::bigint
ORDER BY a.id
LIMIT %(max_agents)s
