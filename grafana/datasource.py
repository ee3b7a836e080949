"""The PostgreSQL datasource that every dashboard and alert rule reads through."""

from typing import Literal

from clevagent_server.grafana.uids import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID

Flavour = Literal["timescaledb", "postgres"]

# Grafana's version setting for PostgreSQL 15 and newer (its highest choice).
POSTGRES_VERSION = 1500


def json_data(database: str, sslmode: str, flavour: Flavour) -> dict[str, object]:
    """Return the datasource's jsonData.

    timescaledb makes $__timeGroup use time_bucket(); timeInterval is the floor of
    $__interval, one minute because that is the resolution of the rollups.
    """
    return {
        "database": database,
        "sslmode": sslmode,
        "postgresVersion": POSTGRES_VERSION,
        "timescaledb": flavour == "timescaledb",
        "timeInterval": "1m",
        "maxOpenConns": 10,
    }


def provisioning_file(flavour: Flavour) -> dict[str, object]:
    """Return datasources/clevagent.yaml; Grafana fills the ${VAR} references from its
    environment, so the file holds no credentials."""
    datasource = {
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "uid": DATASOURCE_UID,
        "orgId": 1,
        "access": "proxy",
        "url": "${CLEVAGENT_GRAFANA_DB_HOST}",
        "user": "${CLEVAGENT_GRAFANA_DB_USER}",
        "isDefault": True,
        "editable": False,
        "jsonData": json_data(
            "${CLEVAGENT_GRAFANA_DB_NAME}", "${CLEVAGENT_GRAFANA_DB_SSLMODE}", flavour
        ),
        "secureJsonData": {"password": "${CLEVAGENT_GRAFANA_DB_PASSWORD}"},
    }
    return {"apiVersion": 1, "datasources": [datasource]}


def api_payload(
    url: str, database: str, user: str, password: str, sslmode: str, flavour: Flavour
) -> dict[str, object]:
    """Return the datasource as POST /api/datasources takes it."""
    return {
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "uid": DATASOURCE_UID,
        "access": "proxy",
        "url": url,
        "user": user,
        "isDefault": False,
        "jsonData": json_data(database, sslmode, flavour),
        "secureJsonData": {"password": password},
    }
