"""fold_telemetry_totals() and the totals readers on every database flavour."""

from typing import Any

import psycopg

from clevagent_server.db import queries

USAGE = '[{"provider": "anthropic", "model": "claude-sonnet", "input_tokens": 40, "output_tokens": 10, "calls": 1}]'  # noqa: E501


def snapshot(conn: psycopg.Connection[Any], agent_id: int) -> tuple[Any, ...]:
    rows = conn.execute(
        queries.load("telemetry/agent_snapshot"), {"project_id": None, "max_agents": 100}
    ).fetchall()
    [row] = [r for r in rows if r[0] == agent_id]
    return (row[-5], row[-4], row[-3], row[-2], row[-1])


def test_fold_keeps_totals_after_rows_expire(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        project_id = conn.execute(
            "INSERT INTO projects (name) VALUES ('fold') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        agent_id = conn.execute(
            "INSERT INTO agents (project_id, name) VALUES (%s, 'a') RETURNING id", (project_id,)
        ).fetchone()[0]  # type: ignore[index]
        conn.execute("SELECT ensure_heartbeat_partitions(current_date - 1, current_date + 1)")
        conn.execute(
            "INSERT INTO heartbeats_free (time, project_id, agent_id, status, tokens_used, "
            "cost_usd, input_tokens, output_tokens, usage) VALUES "
            "(now() - interval '1 hour', %(p)s, %(a)s, 'ok', 50, 0.5, 40, 10, %(u)s::jsonb), "
            "(now(), %(p)s, %(a)s, 'ok', 20, 0.25, NULL, NULL, NULL)",
            {"p": project_id, "a": agent_id, "u": USAGE},
        )
        before = snapshot(conn, agent_id)

        conn.execute(queries.load("telemetry/fold_totals"), {"margin_seconds": 300})
        after_fold = snapshot(conn, agent_id)
        conn.execute("DELETE FROM heartbeats_free WHERE time < now() - interval '10 minutes'")
        after_expiry = snapshot(conn, agent_id)
        usage = conn.execute(
            queries.load("telemetry/project_usage_by_model"),
            {"project_id": project_id, "max_agents": 100},
        ).fetchall()

    assert before == (2, 70, 40, 10, 0.75)
    assert after_fold == before
    assert after_expiry == before
    assert usage == [(agent_id, "anthropic", "claude-sonnet", 40, 10, 0, 0, 0, 1)]
