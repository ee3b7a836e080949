-- Per-project agent counts and cumulative counters over every agent, including those
-- past the per-agent series cap of /metrics.
WITH watermark AS (
    SELECT folded_before FROM telemetry_watermark
),
live AS (
    SELECT h.project_id,
           coalesce(sum(h.tokens_used), 0)  AS tokens,
           coalesce(sum(h.cost_usd), 0)     AS cost_usd
    FROM heartbeats h, watermark w
    WHERE h.time >= w.folded_before
      AND h.agent_id IN (SELECT id FROM agents)
    GROUP BY h.project_id
),
folded AS (
    SELECT a.project_id,
           count(*)                      AS agents,
           coalesce(sum(t.tokens), 0)    AS tokens,
           coalesce(sum(t.cost_usd), 0)  AS cost_usd
    FROM agents a
    LEFT JOIN agent_counter_totals t ON t.agent_id = a.id
    GROUP BY a.project_id
)
SELECT p.id                                                    AS project_id,
       p.name                                                  AS project,
       coalesce(f.agents, 0)                                   AS agents,
       (coalesce(f.tokens, 0) + coalesce(l.tokens, 0))::bigint AS tokens,
       (coalesce(f.cost_usd, 0) + coalesce(l.cost_usd, 0))::float8 AS cost_usd
FROM projects p
LEFT JOIN folded f ON f.project_id = p.id
LEFT JOIN live l ON l.project_id = p.id
ORDER BY p.id
