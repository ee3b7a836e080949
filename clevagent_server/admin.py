"""Administrative operations behind the CLI: projects, plans, API keys and agents.

Every function takes an open connection and commits its own work. User mistakes raise
AdminError with a message meant to be shown as it is.
"""

import hashlib
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import dict_row

from clevagent_server.db import queries

KEY_PREFIX = "cv_"
KEY_RANDOM_BYTES = 32  # 256 bits
KEY_DISPLAY_CHARS = 10
# Budgets are numeric(14, 6) columns: eight digits before the decimal point.
MAX_BUDGET_USD = 1e8


class AdminError(Exception):
    """A request that cannot be carried out as given, with a message naming the fix."""


def plans(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "admin/plans", {})


def create_project(
    conn: psycopg.Connection,
    name: str,
    plan: str = "free",
    strict_mode: bool = False,
    budget_timezone: str = "UTC",
    daily_budget_usd: float | None = None,
) -> dict[str, Any]:
    _check_name("project name", name, 200)
    _check_plan(conn, plan)
    _check_timezone(budget_timezone)
    if daily_budget_usd is not None and not 0 <= daily_budget_usd < MAX_BUDGET_USD:
        raise AdminError(
            f"invalid daily budget {daily_budget_usd}: give dollars from 0 to below "
            f"{MAX_BUDGET_USD:,.0f}"
        )
    params = {
        "name": name,
        "plan": plan,
        "strict_mode": strict_mode,
        "budget_timezone": budget_timezone,
        "daily_budget_usd": daily_budget_usd,
    }
    try:
        with conn.transaction():
            conn.execute(queries.load("admin/create_project"), params)
    except psycopg.errors.UniqueViolation:
        raise AdminError(f"project {name!r} already exists; pick another name") from None
    except psycopg.errors.CheckViolation:
        raise AdminError(f"invalid project name {name!r}: use 1 to 200 characters") from None
    return get_project(conn, name)


def projects(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "admin/projects", {"project": None})


def get_project(conn: psycopg.Connection, project: str) -> dict[str, Any]:
    """Return the project whose name or id is project."""
    rows = _rows(conn, "admin/projects", {"project": project})
    if not rows:
        raise AdminError(f"project {project!r} not found; `clevagent project list` shows them")
    return rows[0]


def set_plan(conn: psycopg.Connection, project: str, plan: str) -> dict[str, Any]:
    """Move a project to another plan, whose table receives the project's new heartbeats.

    On a downgrade, the rows in the old table that the new plan would not keep are
    deleted once. The remaining ones age out under the old table's policy.
    """
    current = get_project(conn, project)
    new_plan = _check_plan(conn, plan)
    old_plan = next(p for p in plans(conn) if p["name"] == current["plan"])
    with conn.transaction():
        conn.execute(queries.load("admin/set_plan"), {"plan": plan, "project_id": current["id"]})
        if new_plan["retention_days"] < old_plan["retention_days"]:
            conn.execute(
                queries.for_table("admin/trim_heartbeats", old_plan["heartbeats_table"]),
                {"project_id": current["id"], "retention_days": new_plan["retention_days"]},
            )
    return get_project(conn, project)


def set_strict(conn: psycopg.Connection, project: str, strict_mode: bool) -> dict[str, Any]:
    """Turn strict mode on or off.

    Turning it on registers the agents the project already has, so that strict mode
    blocks new names (typos, say) without cutting off agents that are running.
    """
    current = get_project(conn, project)
    with conn.transaction():
        conn.execute(
            queries.load("admin/set_strict"),
            {"strict_mode": strict_mode, "project_id": current["id"]},
        )
        if strict_mode:
            conn.execute(queries.load("admin/register_all_agents"), {"project_id": current["id"]})
    return get_project(conn, project)


def create_key(conn: psycopg.Connection, project: str, name: str = "") -> dict[str, Any]:
    """Create an API key and return it; the key itself is never stored and never shown again."""
    current = get_project(conn, project)
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    params = {
        "project_id": current["id"],
        "key_hash": hashlib.sha256(key.encode()).digest(),
        "prefix": key[:KEY_DISPLAY_CHARS],
        "name": name,
    }
    with conn.transaction():
        key_id, created_at = conn.execute(queries.load("admin/create_key"), params).fetchone()  # type: ignore[misc]
    return {
        "id": key_id,
        "project": current["name"],
        "key": key,
        "prefix": params["prefix"],
        "name": name,
        "created_at": created_at,
    }


def keys(conn: psycopg.Connection, project: str) -> list[dict[str, Any]]:
    current = get_project(conn, project)
    return _rows(conn, "admin/keys", {"project_id": current["id"]})


def revoke_key(conn: psycopg.Connection, project: str, key: str) -> dict[str, Any]:
    """Revoke the key whose id or prefix is key; running servers drop it within 30 s."""
    current = get_project(conn, project)
    with conn.transaction():
        rows = conn.execute(
            queries.load("admin/revoke_key"), {"project_id": current["id"], "key": key}
        ).fetchall()
    if not rows:
        raise AdminError(
            f"no active key {key!r} in project {current['name']!r}; "
            f"`clevagent key list {current['name']}` shows ids and prefixes"
        )
    if len(rows) > 1:
        raise AdminError(f"{key!r} matches several keys; revoke by id instead")
    return {"id": rows[0][0], "prefix": rows[0][1], "revoked": True}


def agents(conn: psycopg.Connection, project: str) -> list[dict[str, Any]]:
    current = get_project(conn, project)
    return _rows(conn, "admin/agents", {"project_id": current["id"], "agent": None})


def get_agent(conn: psycopg.Connection, project: str, agent: str) -> dict[str, Any]:
    current = get_project(conn, project)
    rows = _rows(conn, "admin/agents", {"project_id": current["id"], "agent": agent})
    if not rows:
        raise AdminError(f"agent {agent!r} not found in project {current['name']!r}")
    return rows[0]


def register_agent(
    conn: psycopg.Connection, project: str, agent: str, agent_type: str = "generic"
) -> dict[str, Any]:
    """Create the agent if needed and mark it registered, which strict mode requires."""
    current = get_project(conn, project)
    _check_name("agent name", agent, 128)
    with conn.transaction():
        conn.execute(
            queries.load("admin/register_agent"),
            {"project_id": current["id"], "name": agent, "agent_type": agent_type},
        )
    return get_agent(conn, project, agent)


def _check_name(what: str, name: str, max_chars: int) -> None:
    valid = 0 < len(name) <= max_chars and name == name.strip() and name.isprintable()
    if not valid or any("\ud800" <= ch <= "\udfff" for ch in name):
        raise AdminError(
            f"invalid {what} {name!r}: use 1 to {max_chars} printable characters without "
            "leading or trailing spaces"
        )


def _check_plan(conn: psycopg.Connection, plan: str) -> dict[str, Any]:
    known = {p["name"]: p for p in plans(conn)}
    if plan not in known:
        raise AdminError(f"unknown plan {plan!r}; choose one of: {', '.join(known)}")
    return known[plan]


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AdminError(
            f"unknown timezone {name!r}; use an IANA name such as UTC or Europe/Berlin"
        ) from None


def _rows(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        cursor.execute(queries.load(name), params)  # type: ignore[arg-type]
        return cursor.fetchall()
