-- A read-only group role for Grafana's datasource. Grafana runs raw SQL typed by anyone
-- who can edit a dashboard, so its login role should only read, and never the API keys.
-- Roles belong to the whole cluster: create it only once, and tolerate a concurrent
-- migration of another database that creates it first. The login role that is a member of
-- it (and its password) is created by whoever runs the database, for example the compose
-- stack's init script.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clevagent_grafana') THEN
        CREATE ROLE clevagent_grafana NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO clevagent_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO clevagent_grafana;
REVOKE SELECT ON api_keys FROM clevagent_grafana;

-- Tables that later migrations create (by the same migrating role) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO clevagent_grafana;
