-- The 1-minute token buckets of some agents since a time, for token spike detection.
-- On plain PostgreSQL the heartbeats_1m view groups by date_bin(time), and a filter on
-- that expression cannot use the time index or prune partitions, so this function
-- reads the raw rows of each agent through the (agent_id, time) index instead. It
-- buckets exactly like the heartbeats_1m view. The ORDER BY and LIMIT (far above what an
-- agent sends in the window) steer the planner to one index range scan per agent.
CREATE FUNCTION detector_token_buckets(since timestamptz, agent_ids bigint[])
RETURNS TABLE (agent_id bigint, bucket timestamptz, tokens_used numeric)
LANGUAGE sql STABLE AS $$
    SELECT ids.agent_id,
           date_bin(interval '1 minute', h.time, timestamptz '2000-01-03 00:00:00+00'),
           sum(h.tokens_used)
    FROM unnest(agent_ids) AS ids (agent_id)
    CROSS JOIN LATERAL (
        SELECT hb.time, hb.tokens_used
        FROM heartbeats hb
        WHERE hb.agent_id = ids.agent_id AND hb.time >= since
        ORDER BY hb.time DESC
        LIMIT 100000
    ) AS h
    GROUP BY 1, 2
$$;
