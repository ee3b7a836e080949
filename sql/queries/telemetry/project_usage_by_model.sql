-- Cumulative token usage of one project's agents by provider and model, from the
-- heartbeats' usage lists: folded totals plus the heartbeats at or after the watermark.
-- Parameters: project_id, max_agents (the same first agents by id as agent_snapshot).
WITH watermark AS (
    SELECT folded_before FROM telemetry_watermark
),
chosen AS (
    SELECT id FROM agents WHERE project_id = %(project_id)s ORDER BY id LIMIT %(max_agents)s
),
live AS (
    SELECT h.agent_id, coalesce(u.provider, '') AS provider, u.model,
           coalesce(u.input_tokens, 0) AS input_tokens,
           coalesce(u.output_tokens, 0) AS output_tokens,
           coalesce(u.cached_tokens, 0) AS cached_tokens,
           coalesce(u.cache_write_tokens, 0) AS cache_write_tokens,
           coalesce(u.reasoning_tokens, 0) AS reasoning_tokens,
           coalesce(u.calls, 0) AS calls
    FROM heartbeats h
    CROSS JOIN watermark w
    CROSS JOIN LATERAL jsonb_to_recordset(
        CASE WHEN jsonb_typeof(h.usage) = 'array' THEN h.usage ELSE '[]'::jsonb END
    ) AS u(provider text, model text, input_tokens bigint, output_tokens bigint,
           cached_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint,
           calls bigint)
    WHERE h.time >= w.folded_before AND h.project_id = %(project_id)s
      AND h.agent_id IN (SELECT id FROM chosen) AND u.model IS NOT NULL
),
folded AS (
    SELECT agent_id, provider, model, input_tokens, output_tokens, cached_tokens,
           cache_write_tokens, reasoning_tokens, calls
    FROM agent_usage_totals
    WHERE agent_id IN (SELECT id FROM chosen)
)
SELECT agent_id, provider, model,
       sum(input_tokens)::bigint       AS input_tokens,
       sum(output_tokens)::bigint      AS output_tokens,
       sum(cached_tokens)::bigint      AS cached_tokens,
       sum(cache_write_tokens)::bigint AS cache_write_tokens,
       sum(reasoning_tokens)::bigint   AS reasoning_tokens,
       sum(calls)::bigint              AS calls
FROM (SELECT * FROM folded UNION ALL SELECT * FROM live) usage
GROUP BY agent_id, provider, model
ORDER BY agent_id, provider, model
