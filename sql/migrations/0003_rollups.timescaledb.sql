-- A 1-minute real-time continuous aggregate per heartbeats table. Since TimescaleDB 2.13
-- an aggregate is materialized-only unless created with materialized_only = false, and
-- detection needs the minute that is still being written. The refresh window stays inside
-- the shortest retention (7 days) so that a refresh never deletes aggregate rows.

DO $$
DECLARE
    p record;
    rollup text;
BEGIN
    FOR p IN SELECT retention_days, heartbeats_table FROM plans LOOP
        rollup := replace(p.heartbeats_table, 'heartbeats_', 'heartbeats_1m_');
        EXECUTE format($ddl$
            CREATE MATERIALIZED VIEW %1$I
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(interval '1 minute', time) AS bucket,
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
            GROUP BY bucket, project_id, agent_id
            WITH NO DATA$ddl$, rollup, p.heartbeats_table);
        PERFORM add_continuous_aggregate_policy(rollup::regclass,
                                                start_offset => interval '2 days',
                                                end_offset => interval '1 minute',
                                                schedule_interval => interval '1 minute');
        PERFORM add_retention_policy(rollup::regclass, make_interval(days => p.retention_days));
    END LOOP;
END
$$;
