-- Tokens of the recent 1-minute buckets of some agents, each with the average and the
-- number of the buckets before it within the rolling window. Continuous aggregates
-- cannot hold window functions, so the average is taken here, at query time.
SELECT agent_id, bucket, tokens_used::float8 AS tokens_used,
       avg_before::float8 AS avg_before, buckets_before
FROM (
    SELECT agent_id, bucket, tokens_used,
           avg(tokens_used) OVER earlier AS avg_before,
           count(tokens_used) OVER earlier AS buckets_before
    FROM detector_token_buckets(%(since)s, %(agent_id)s::bigint[])
    WHERE bucket <= %(now)s
    WINDOW earlier AS (
        PARTITION BY agent_id ORDER BY bucket
        RANGE BETWEEN %(window)s::interval PRECEDING AND interval '1 minute' PRECEDING
    )
) AS w
WHERE bucket >= %(recent_from)s
ORDER BY agent_id, bucket
