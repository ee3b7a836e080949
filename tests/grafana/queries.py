"""Find the SQL of the committed provisioning files and run it as Grafana would."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tests.grafana.macros import QueryContext, Variable, expand_alert_query, expand_panel_query

PROVISIONING = Path(__file__).resolve().parents[2] / "provisioning"
DASHBOARDS = PROVISIONING / "dashboards" / "clevagent"

# PostgreSQL type OIDs that Grafana turns into labels (strings) and values (numbers).
STRING_TYPES = {25, 1043, 19}
NUMBER_TYPES = {20, 21, 23, 700, 701, 1700}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    title: str
    sql: str
    format: str


@dataclass
class Result:
    columns: list[str]
    type_oids: list[int]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def load_dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))]


def panel_queries() -> Iterator[PanelQuery]:
    """Yield every panel target, annotation and variable query of the dashboards."""
    for dashboard in load_dashboards():
        uid = dashboard["uid"]
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield PanelQuery(uid, panel["title"], target["rawSql"], target["format"])
        for annotation in dashboard.get("annotations", {}).get("list", []):
            target = annotation["target"]
            yield PanelQuery(uid, "annotation " + annotation["name"], target["rawSql"], "table")
        for variable in dashboard.get("templating", {}).get("list", []):
            yield PanelQuery(uid, "variable " + variable["name"], variable["query"], "table")


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_context(
    project: list[str] | str, agent_id: int, timescaledb: bool, hours: int = 6
) -> QueryContext:
    now = datetime.now(UTC)
    return QueryContext(
        time_from=now - timedelta(hours=hours),
        time_to=now,
        interval=timedelta(minutes=1),
        timescaledb=timescaledb,
        variables={
            "project": Variable(project, multi=True, include_all=True),
            "agent": Variable(str(agent_id)),
        },
    )


def alert_context(rule: dict[str, Any], timescaledb: bool) -> QueryContext:
    query = rule["data"][0]
    now = datetime.now(UTC)
    span = query["relativeTimeRange"]
    return QueryContext(
        time_from=now - timedelta(seconds=span["from"]),
        time_to=now - timedelta(seconds=span["to"]),
        interval=timedelta(milliseconds=query["model"]["intervalMs"]),
        timescaledb=timescaledb,
    )


def run(conn: psycopg.Connection, sql: str) -> Result:
    with conn.cursor() as cursor:
        cursor.execute(sql.encode())  # bytes: the text is ours, not a LiteralString
        assert cursor.description is not None
        return Result(
            [column.name for column in cursor.description],
            [column.type_code for column in cursor.description],
            cursor.fetchall(),
        )


def run_panel(conn: psycopg.Connection, query: PanelQuery, ctx: QueryContext) -> Result:
    return run(conn, expand_panel_query(query.sql, ctx))


def run_alert(conn: psycopg.Connection, rule: dict[str, Any], timescaledb: bool) -> Result:
    sql = rule["data"][0]["model"]["rawSql"]
    return run(conn, expand_alert_query(sql, alert_context(rule, timescaledb)))
