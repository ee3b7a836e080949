
"""Writing a Plan: one statement per kind of row, in one transaction.

Decisions are applied first; the events and commands that belong to a decision are
written only for the decisions the database actually applied (a status guard that no
longer matched, or an episode another cycle already opened, writes nothing).
"""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from clevagent_server.db import queries
from clevagent_server.detectors.model import Command, Consequences, Event, Plan


def execute(conn: psycopg.Connection[Any], name: str,
            params: dict[str, Any] | None = None) -> psycopg.Cursor[tuple[Any, ...]]:
    """Run the named statement from sql/queries/detectors, with plain tuple rows.

    Rows are tuples whatever row factory the caller's connection has.
    """
    cursor = conn.cursor(row_factory=tuple_row)
    return cursor.execute(queries.load(f"detectors/{name}"), params)


def write_plan(conn: psycopg.Connection, plan: Plan, now: datetime) -> tuple[int, int]:
    """Write the plan; return the number of events written and commands queued."""
    _lock_agents(conn, plan)
    then = _apply_status_changes(conn, plan, now)
    then += _apply_episodes(conn, plan, now)
    _apply_warnings(conn, plan)
    _apply_signals(conn, plan)

    commands = [command for consequence in then for command in consequence.commands]
    events = [event for consequence in then for event in consequence.events]
    events += _queue_commands(conn, commands, now)
    _insert_events(conn, events, now)
    return len(events), len(commands)


def _lock_agents(conn: psycopg.Connection, plan: Plan) -> None:
    ids = sorted({c.agent.id for c in plan.status_changes} | set(plan.warnings))
    if ids:
        execute(conn, "lock_agents", {"agent_id": ids})


def _apply_status_changes(conn: psycopg.Connection, plan: Plan,
                          now: datetime) -> list[Consequences]:
    changes = plan.status_changes
    if not changes:
        return []
    params = {
        "now": now,
        "agent_id": [c.agent.id for c in changes],
        "old_status": [c.agent.status for c in changes],
        "seen_heartbeat_at": [c.agent.last_heartbeat_at for c in changes],
        "status": [c.status for c in changes],
        "reason": [c.reason for c in changes],
    }
    rows = execute(conn, "update_statuses", params).fetchall()
    applied = {row[0] for row in rows}
    return [c.then for c in changes if c.agent.id in applied]


def _apply_episodes(conn: psycopg.Connection, plan: Plan, now: datetime) -> list[Consequences]:
    then: list[Consequences] = []
    if plan.starts:
        params = {
            "now": now,
            "project_id": [s.project_id for s in plan.starts],
            "agent_id": [s.agent_id for s in plan.starts],
            "kind": [s.kind for s in plan.starts],
            "signal": [s.signal for s in plan.starts],
            "value": _floats(s.value for s in plan.starts),
            "threshold": _floats(s.threshold for s in plan.starts),
            "details": [_dumps(s.details) for s in plan.starts],
        }
        rows = execute(conn, "open_episodes", params).fetchall()
        opened = {(project_id, agent_id, kind) for _, project_id, agent_id, kind in rows}
        then += [s.then for s in plan.starts if (s.project_id, s.agent_id, s.kind) in opened]

    if plan.touches:
        params = {
            "now": now,
            "id": [episode_id for episode_id, _, _ in plan.touches],
            "value": _floats(value for _, value, _ in plan.touches),
            "details": [_dumps(details) for _, _, details in plan.touches],
        }
        execute(conn, "touch_episodes", params)

    if plan.ends:
        params = {"now": now, "id": [end.episode.id for end in plan.ends]}
        rows = execute(conn, "close_episodes", params).fetchall()
        closed = {row[0] for row in rows}
        then += [end.then for end in plan.ends if end.episode.id in closed]
    return then


def _apply_warnings(conn: psycopg.Connection, plan: Plan) -> None:
    if not plan.warnings:
        return
    params = {
        "agent_id": list(plan.warnings),
        "warning": [_dumps(w) if w is not None else None for w in plan.warnings.values()],
    }
    execute(conn, "update_warnings", params)


def _apply_signals(conn: psycopg.Connection, plan: Plan) -> None:
    if not plan.signals:
        return
    params = {
        "agent_id": [agent_id for agent_id, _, _ in plan.signals],
        "repetition": [_dumps(r) if r is not None else None for _, r, _ in plan.signals],
        "spike": [_dumps(s) if s is not None else None for _, _, s in plan.signals],
    }
    execute(conn, "save_signals", params)


def _queue_commands(conn: psycopg.Connection, commands: list[Command],
                    now: datetime) -> list[Event]:
    """Queue the commands and return a 'restart_queued' event for each."""
    if not commands:
        return []
    params = {
        "now": now,
        "project_id": [c.project_id for c in commands],
        "agent_id": [c.agent_id for c in commands],
        "action": [c.action for c in commands],
        "type": [c.type for c in commands],
        "target": [c.target for c in commands],
        "reason": [c.reason for c in commands],
    }
    rows = execute(conn, "queue_commands", params).fetchall()
    return [_queued_event(command, command_id) for command, (command_id,) in zip(
        commands, rows, strict=True)]


def _queued_event(command: Command, command_id: int) -> Event:
    details = {
        "command_id": command_id,
        "action": command.action,
        "type": command.type,
        "target": command.target,
        "reason": command.reason,
    }
    message = f"{command.action} queued: {command.reason}"
    return Event(command.project_id, command.agent_id, "restart_queued", "warning",
                 message=message, details=details)


def _insert_events(conn: psycopg.Connection, events: list[Event], now: datetime) -> None:
    if not events:
        return
    params = {
        "now": now,
        "project_id": [e.project_id for e in events],
        "agent_id": [e.agent_id for e in events],
        "type": [e.type for e in events],
        "severity": [e.severity for e in events],
        "signal": [e.signal for e in events],
        "value": _floats(e.value for e in events),
        "threshold": _floats(e.threshold for e in events),
        "message": [e.message for e in events],
        "details": [_dumps(e.details) if e.details is not None else None for e in events],
    }
    execute(conn, "insert_events", params)


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, default=str, allow_nan=False)


def _floats(values: Iterable[float | int | None]) -> list[float | None]:
    """Return values as floats: psycopg cannot send a list that mixes int and float."""
    return [None if v is None else float(v) for v in values]
