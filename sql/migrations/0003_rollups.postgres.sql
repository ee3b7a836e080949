-- Without TimescaleDB the 1-minute rollups are plain views over the partitioned tables:
-- always current, and cheap because every reader filters on a recent time range, which
-- the (agent_id, time) index and partition pruning serve. date_bin with the origin
-- 2000-01-03 buckets exactly like time_bucket.

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT heartbeats_table FROM plans LOOP
        EXECUTE format($ddl$
            CREATE VIEW %1$I AS
            SELECT date_bin(interval '1 minute', time, timestamptz '2000-01-03 00:00:00+00') AS bucket,
                   project_id,
                   agent_id,
                   count(*)                 AS heartbeats,
                   sum(tokens_used)         AS tokens_used,
                   sum(cost_usd)            AS cost_usd,
                   sum(tool_calls)          AS tool_calls,
                   max(iteration_count)     AS max_iteration,
                   sum(input_tokens)        AS input_tokens,
                   sum(output_tokens)       AS output_tokens,
                   sum(llm_calls)           AS llm_calls,
                   sum(unpriced_calls)      AS unpriced_calls,
                   sum(unknown_usage_calls) AS unknown_usage_calls
            FROM %2$I
            GROUP BY 1, project_id, agent_id$ddl$,
            replace(p.heartbeats_table, 'heartbeats_', 'heartbeats_1m_'), p.heartbeats_table);
    END LOOP;
END
$$;
