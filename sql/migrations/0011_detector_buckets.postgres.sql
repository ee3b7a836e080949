-- The 1-minute token buckets of some agents since a time, for token spike detection.
-- On plain PostgreSQL the heartbeats_1m view groups by date_bin(time), and a filter on
-- that expression cannot use the time index or prune partitions, so this function
-- filters the raw rows on time first. It buckets exactly like the heartbeats_1m view.
CREATE FUNCTION detector_token_buckets(since timestamptz, agent_ids bigint[])
RETURNS TABLE (agent_id bigint, bucket timestamptz, tokens_used numeric)
LANGUAGE sql STABLE AS $$
    SELECT h.agent_id,
           date_bin(interval '1 minute', h.time, timestamptz '2000-01-03 00:00:00+00'),
           sum(h.tokens_used)
    FROM heartbeats h
    WHERE h.time >= since AND h.agent_id = ANY (agent_ids)
    GROUP BY 1, 2
$$;
