"""A small world for detector tests: projects, agents and heartbeats at chosen times.

Time is controlled, never waited for: a test stores heartbeats at chosen server times and
runs cycles with `now` set, in chronological order.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from clevagent_server.detectors.cycle import CycleResult, run_cycle
from clevagent_server.detectors.settings import DetectorSettings


@dataclass
class World:
    """Projects, agents and heartbeats at chosen times, and cycles run at chosen times."""

    conn: psycopg.Connection[dict[str, Any]]
    settings: DetectorSettings = field(default_factory=DetectorSettings)
    results: list[CycleResult] = field(default_factory=list)

    def project(self, timezone: str = "UTC", budget: float | None = None) -> int:
        row = self.conn.execute(
            "INSERT INTO projects (name, budget_timezone, daily_budget_usd) "
            "VALUES (%s, %s, %s) RETURNING id",
            (f"project-{uuid.uuid4().hex[:8]}", timezone, budget),
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def agent(self, project_id: int, name: str = "bot", **settings: Any) -> int:
        columns = ["project_id", "name", *settings]
        placeholders = ", ".join(["%s"] * len(columns))
        row = self.conn.execute(
            f"INSERT INTO agents ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
            [project_id, name, *settings.values()],
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def heartbeat(self, agent_id: int, at: datetime, status: str = "ok", **fields: Any) -> None:
        """Store a heartbeat received at `at` and update the agent as ingest does."""
        busy_seconds = fields.pop("busy_seconds", None)
        row = {"time": at, "agent_id": agent_id, "status": status, **fields}
        columns = list(row)
        values = [json.dumps(v) if k == "usage" else v for k, v in row.items()]
        self.conn.execute(
            f"INSERT INTO heartbeats_free (project_id, {', '.join(columns)}) "
            f"SELECT project_id, {', '.join(['%s'] * len(columns))} FROM agents WHERE id = %s",
            [*values, agent_id],
        )
        self.conn.execute(
            """
            UPDATE agents SET
                last_heartbeat_at = GREATEST(last_heartbeat_at, %(at)s),
                last_client_status = %(status)s,
                last_message = COALESCE(%(message)s, last_message),
                last_iteration_changed_at = CASE
                    WHEN %(iteration)s::bigint IS NOT NULL
                         AND %(iteration)s::bigint IS DISTINCT FROM last_iteration
                    THEN %(at)s ELSE last_iteration_changed_at END,
                last_iteration = COALESCE(%(iteration)s::bigint, last_iteration),
                busy_until = CASE
                    WHEN %(busy)s::float8 IS NULL THEN busy_until
                    WHEN %(busy)s::float8 = 0 THEN NULL
                    ELSE %(at)s + make_interval(secs => %(busy)s::float8) END,
                status = CASE
                    WHEN status <> 'unknown' THEN status
                    WHEN %(status)s IN ('warning', 'error') THEN 'degraded'
                    ELSE 'healthy' END,
                status_changed_at = CASE
                    WHEN status = 'unknown' THEN %(at)s ELSE status_changed_at END
            WHERE id = %(id)s
            """,
            {"at": at, "status": status, "message": fields.get("message"),
             "iteration": fields.get("iteration_count"), "busy": busy_seconds, "id": agent_id},
        )

    def cycle(self, at: datetime) -> CycleResult:
        result = run_cycle(self.conn, now=at, settings=self.settings)
        assert result.error is None, result.error
        self.results.append(result)
        return result

    def run(self, start: datetime, end: datetime, step: float = 10.0,
            beats: list[tuple[datetime, int, dict[str, Any]]] | None = None) -> None:
        """Run cycles every `step` seconds from start to end, storing `beats` in time order."""
        pending = sorted(beats or [], key=lambda beat: beat[0])
        at = start
        while at <= end:
            while pending and pending[0][0] <= at:
                when, agent_id, fields = pending.pop(0)
                self.heartbeat(agent_id, when, **fields)
            self.cycle(at)
            at += timedelta(seconds=step)

    def agent_row(self, agent_id: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM agents WHERE id = %s", (agent_id,)).fetchone()
        assert row is not None
        return row

    def events(self, agent_id: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT * FROM agent_events WHERE (%(agent)s::bigint IS NULL OR agent_id = %(agent)s) "
            "AND (%(type)s::text IS NULL OR type = %(type)s) ORDER BY id",
            {"agent": agent_id, "type": kind},
        ).fetchall()

    def commands(self, agent_id: int) -> list[dict[str, Any]]:
        return self.conn.execute(
            "SELECT * FROM restart_commands WHERE agent_id = %s ORDER BY id", (agent_id,)
        ).fetchall()
