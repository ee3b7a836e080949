-- The latest heartbeats of some agents, newest first: at most `count` of each, received
-- since `since`. The per-agent lower bound keeps the lookup on recent partitions.
SELECT t.agent_id, r.time, r.message, r.fingerprints, r.tokens_used, r.tool_calls,
       r.llm_calls, r.cost_usd, r.iteration_count
FROM unnest(%(agent_id)s::bigint[], %(count)s::integer[], %(since)s::timestamptz[])
     AS t (agent_id, count, since)
CROSS JOIN LATERAL (
    SELECT h.time, h.message, h.fingerprints, h.tokens_used, h.tool_calls, h.llm_calls,
           h.cost_usd, h.iteration_count
    FROM heartbeats h
    WHERE h.agent_id = t.agent_id AND h.time >= t.since AND h.time <= %(now)s
    ORDER BY h.time DESC
    LIMIT t.count
) AS r
ORDER BY t.agent_id, r.time DESC
