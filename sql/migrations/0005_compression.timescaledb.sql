-- Compress heartbeat chunks once they are two days old. Rows arrive stamped with the
-- server's receive time, so nothing is inserted into a chunk that old, and the detectors
-- and dashboards read recent data from the 1-minute rollups. Segmenting by agent keeps
-- one agent's history together, which is how every reader filters.

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT heartbeats_table FROM plans LOOP
        EXECUTE format(
            'ALTER TABLE %I SET (timescaledb.compress, '
            'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
            p.heartbeats_table, 'project_id, agent_id', 'time DESC');
        PERFORM add_compression_policy(p.heartbeats_table::regclass, interval '2 days');
    END LOOP;
END
$$;
