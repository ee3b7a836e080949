"""The demo's private database: set-up before the server starts, and the reads of the view.

The demo owns this database outright (it lives in the demo's own data directory), which
is why it may lower a plan's minimum heartbeat interval and recreate the database on
every run.
"""

import logging
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from clevagent_server import admin
from clevagent_server.db.database import connect
from clevagent_server.db.embedded import DATABASE_NAME
from clevagent_server.db.migrate import migrate
from clevagent_server.demo import scenario

logger = logging.getLogger(__name__)

PROJECT_NAME = "demo"

LOWER_PLAN_INTERVAL = "UPDATE plans SET min_interval_seconds = %(seconds)s WHERE name = %(plan)s"

NEW_EVENTS = """
SELECT e.id, e.time, a.name AS agent, e.type, e.severity, e.signal, e.message, e.details
FROM agent_events AS e
LEFT JOIN agents AS a ON a.id = e.agent_id
WHERE e.project_id = %(project_id)s AND e.id > %(after_id)s
ORDER BY e.id
"""

# The receive time of the heartbeat whose cost took the agent's running total to the
# budget or past it.
BUDGET_CROSSED_AT = """
SELECT time FROM (
    SELECT time, sum(COALESCE(cost_usd, 0)) OVER (ORDER BY time) AS spent
    FROM heartbeats
    WHERE agent_id = (SELECT id FROM agents WHERE project_id = %(project_id)s AND name = %(agent)s)
) AS running
WHERE spent >= %(budget)s
ORDER BY time
LIMIT 1
"""


def recreate_database(url: str) -> None:
    """Drop and create the demo's database, so each run starts from an empty fleet."""
    maintenance_url = make_conninfo(url, dbname="postgres")
    with connect(maintenance_url, autocommit=True) as conn:
        name = sql.Identifier(DATABASE_NAME)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def prepare(url: str) -> tuple[int, str, dict[str, int]]:
    """Migrate, create the demo project, its key and its agents.

    Returns the project's id, the API key and the agents' ids by name. The agents'
    settings are left to PUT /api/v1/agents/{id} once the server runs.
    """
    migrate(url)
    with connect(url) as conn:
        with conn.transaction():
            conn.execute(
                LOWER_PLAN_INTERVAL,
                {"seconds": scenario.HEARTBEAT_SECONDS, "plan": scenario.DEMO_PLAN},
            )
        project = admin.create_project(conn, PROJECT_NAME, plan=scenario.DEMO_PLAN)
        key = admin.create_key(conn, PROJECT_NAME, name="demo")
        agent_ids = {
            agent.name: int(admin.register_agent(conn, PROJECT_NAME, agent.name, "demo")["id"])
            for agent in scenario.AGENTS
        }
    return int(project["id"]), str(key["key"]), agent_ids


def new_events(conn: psycopg.Connection, project_id: int, after_id: int) -> list[dict[str, Any]]:
    """Return the project's events with an id above after_id, oldest first."""
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(NEW_EVENTS, {"project_id": project_id, "after_id": after_id})
        return cursor.fetchall()


def budget_crossed_at(
    conn: psycopg.Connection, project_id: int, agent: str, budget: float
) -> datetime | None:
    row = conn.execute(
        BUDGET_CROSSED_AT, {"project_id": project_id, "agent": agent, "budget": budget}
    ).fetchone()
    return row[0] if row else None
