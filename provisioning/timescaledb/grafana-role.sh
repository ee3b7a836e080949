#!/bin/sh
# Create the login role Grafana's datasource uses (docker-entrypoint-initdb.d).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v login="$CLEVAGENT_GRAFANA_DB_USER" -v password="$CLEVAGENT_GRAFANA_DB_PASSWORD" <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clevagent_grafana') THEN
        CREATE ROLE clevagent_grafana NOLOGIN;
    END IF;
END
$$;
CREATE ROLE :"login" LOGIN PASSWORD :'password' IN ROLE clevagent_grafana;
SQL
