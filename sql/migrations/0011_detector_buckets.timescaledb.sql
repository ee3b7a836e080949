-- The 1-minute token buckets of some agents since a time, for token spike detection.
-- On TimescaleDB they come from the real-time continuous aggregates behind heartbeats_1m,
-- which are indexed on bucket.
CREATE FUNCTION detector_token_buckets(since timestamptz, agent_ids bigint[])
RETURNS TABLE (agent_id bigint, bucket timestamptz, tokens_used numeric)
LANGUAGE sql STABLE AS $$
    SELECT m.agent_id, m.bucket, m.tokens_used
    FROM heartbeats_1m m
    WHERE m.bucket >= since AND m.agent_id = ANY (agent_ids)
$$;
