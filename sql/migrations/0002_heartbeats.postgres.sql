-- Heartbeat storage on plain PostgreSQL: the same table names as on TimescaleDB, each
-- range-partitioned by day so that expiry drops whole partitions. A default partition
-- catches rows outside the prepared days; it is the only place expiry has to DELETE.

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT name, heartbeats_table FROM plans LOOP
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
            ) PARTITION BY RANGE (time)$ddl$, p.heartbeats_table);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT',
                       p.heartbeats_table || '_default', p.heartbeats_table);
        EXECUTE format('CREATE INDEX %I ON %I (agent_id, time DESC)',
                       p.heartbeats_table || '_agent_time_idx', p.heartbeats_table);
        EXECUTE format('CREATE INDEX %I ON %I (time)',
                       p.heartbeats_table || '_time_idx', p.heartbeats_table);
    END LOOP;
END
$$;

-- Create the daily partitions from first_day to last_day (inclusive) that do not exist
-- yet. Rows already in the default partition for such a day are moved into it.
CREATE FUNCTION ensure_heartbeat_partitions(first_day date, last_day date)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    p record;
    day date;
    part text;
    created integer := 0;
BEGIN
    FOR p IN SELECT heartbeats_table FROM plans LOOP
        day := first_day;
        WHILE day <= last_day LOOP
            part := p.heartbeats_table || '_p' || to_char(day, 'YYYYMMDD');
            IF to_regclass(part) IS NULL THEN
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, p.heartbeats_table);
                EXECUTE format(
                    'WITH moved AS (DELETE FROM %I WHERE time >= %L::timestamptz AND time < %L::timestamptz RETURNING *) '
                    'INSERT INTO %I SELECT * FROM moved',
                    p.heartbeats_table || '_default', day::timestamptz, (day + 1)::timestamptz, part);
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                               p.heartbeats_table, part, day::timestamptz, (day + 1)::timestamptz);
                created := created + 1;
            END IF;
            day := day + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

-- Drop the daily partitions that lie wholly before each plan's retention window, and
-- delete expired rows from the default partition (the one case with no partition
-- boundary to drop at). Returns the number of partitions dropped.
CREATE FUNCTION expire_heartbeats(now_ts timestamptz DEFAULT now())
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    p record;
    part record;
    cutoff timestamptz;
    dropped integer := 0;
BEGIN
    FOR p IN SELECT heartbeats_table, retention_days FROM plans LOOP
        cutoff := now_ts - make_interval(days => p.retention_days);
        FOR part IN
            SELECT c.relname
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = p.heartbeats_table::regclass
              AND c.relname ~ '_p[0-9]{8}$'
              AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamptz <= cutoff
        LOOP
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        EXECUTE format('DELETE FROM %I WHERE time < %L', p.heartbeats_table || '_default', cutoff);
    END LOOP;
    RETURN dropped;
END
$$;
