-- Indexes on the expression the 1-minute rollup views group by. A filter on a view's
-- bucket column is pushed below the GROUP BY as a condition on this expression, which an
-- index on plain `time` cannot serve; without these, every rollup query would read the
-- whole history of the agents it names.

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT heartbeats_table FROM plans LOOP
        EXECUTE format(
            'CREATE INDEX %I ON %I (agent_id, date_bin(interval %L, time, timestamptz %L))',
            p.heartbeats_table || '_agent_bucket_idx', p.heartbeats_table,
            '1 minute', '2000-01-03 00:00:00+00');
        EXECUTE format(
            'CREATE INDEX %I ON %I (date_bin(interval %L, time, timestamptz %L))',
            p.heartbeats_table || '_bucket_idx', p.heartbeats_table,
            '1 minute', '2000-01-03 00:00:00+00');
    END LOOP;
END
$$;
