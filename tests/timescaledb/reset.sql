-- Drop every object of the public schema that the timescaledb extension does not own,
-- which gives the next test an empty database in the same PGlite session.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT format('%I.%I', view_schema, view_name) AS name
        FROM timescaledb_information.continuous_aggregates
        WHERE view_schema = 'public'
    LOOP
        EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %s CASCADE', r.name);
    END LOOP;
    FOR r IN
        SELECT c.oid::regclass::text AS name, c.relkind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm', 'r', 'p')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
        ORDER BY CASE c.relkind WHEN 'v' THEN 0 WHEN 'm' THEN 1 ELSE 2 END
    LOOP
        IF to_regclass(r.name) IS NULL THEN CONTINUE; END IF;
        IF r.relkind = 'v' THEN
            EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', r.name);
        ELSIF r.relkind = 'm' THEN
            EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %s CASCADE', r.name);
        ELSE
            EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', r.name);
        END IF;
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure::text AS name
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.name);
    END LOOP;
END
$$;
