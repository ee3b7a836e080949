-- Make partition maintenance safe to call from several processes at once and cheap in
-- locks. serve's start-up and the detector cycle may create the same day's partitions
-- together, which raced on the existence check. Dropping hundreds of partitions in one
-- transaction (after a long outage, say) could exceed max_locks_per_transaction; at most
-- max_drops go per call now, and the detector cycle calls it again later for the rest.

CREATE OR REPLACE FUNCTION ensure_heartbeat_partitions(first_day date, last_day date)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    p record;
    day date;
    part text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('clevagent.heartbeat_partitions'));
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

DROP FUNCTION expire_heartbeats(timestamptz);

-- Drop up to max_drops daily partitions that lie wholly before their plan's retention
-- window, oldest first, and delete expired rows from the default partitions (the one case
-- with no partition boundary to drop at). Returns the number of partitions dropped.
CREATE FUNCTION expire_heartbeats(now_ts timestamptz DEFAULT now(), max_drops integer DEFAULT 50)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    part record;
    p record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('clevagent.heartbeat_partitions'));
    FOR part IN
        SELECT c.relname
        FROM plans pl
        JOIN pg_inherits i ON i.inhparent = pl.heartbeats_table::regclass
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE c.relname ~ '_p[0-9]{8}$'
          AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamptz
              <= now_ts - make_interval(days => pl.retention_days)
        ORDER BY right(c.relname, 8)
        LIMIT max_drops
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    FOR p IN SELECT heartbeats_table, retention_days FROM plans LOOP
        EXECUTE format('DELETE FROM %I WHERE time < %L', p.heartbeats_table || '_default',
                       now_ts - make_interval(days => p.retention_days));
    END LOOP;
    RETURN dropped;
END
$$;
