"""PUT and GET of agent settings, against a running `clevagent serve`."""

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from clevagent_server import admin
from clevagent_server.db import database
from tests.support import ServerProcess

SETTINGS = {
    "max_tool_calls_per_minute": 50,
    "max_identical_messages": 10,
    "token_spike_multiplier": 5.0,
    "daily_budget_usd": 12.5,
    "expected_interval_seconds": 120,
    "auto_restart": True,
    "on_loop": "stop",
    "on_cost_exceeded": "stop",
    "enabled": True,
}


def create_agent(server: ServerProcess, name: str = "research-bot") -> int:
    response = httpx.post(f"{server.url}/api/v1/heartbeat", headers=server.headers(),
                          json={"agent": name})
    assert response.status_code == 200, response.text
    return int(response.json()["agent_id"])


def put(server: ServerProcess, agent_id: int, body: Any, path: str = "/api/v1/agents",
        headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, str) else None
    if headers is None:
        headers = {**server.headers(), "Content-Type": "application/json"}
    return httpx.put(f"{server.url}{path}/{agent_id}", headers=headers,
        content=content, json=None if content else body)


@pytest.mark.parametrize("path", ["/api/agents", "/api/v1/agents"])
def test_put_settings_returns_them(server: ServerProcess, path: str) -> None:
    agent_id = create_agent(server)
    response = put(server, agent_id, SETTINGS, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {name: body[name] for name in SETTINGS} == SETTINGS
    assert body["id"] == agent_id
    assert body["name"] == "research-bot"

    fetched = httpx.get(f"{server.url}/api/v1/agents/{agent_id}", headers=server.headers())
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_put_changes_only_named_fields(server: ServerProcess) -> None:
    agent_id = create_agent(server)
    put(server, agent_id, SETTINGS)
    response = put(server, agent_id, {"max_tool_calls_per_minute": 20})
    assert response.status_code == 200
    assert response.json()["max_tool_calls_per_minute"] == 20
    assert response.json()["max_identical_messages"] == 10


def test_null_budget_removes_it(server: ServerProcess) -> None:
    agent_id = create_agent(server)
    put(server, agent_id, {"daily_budget_usd": 3})
    response = put(server, agent_id, {"daily_budget_usd": None})
    assert response.json()["daily_budget_usd"] is None


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ('{"token_spike_multiplier": NaN}', "token_spike_multiplier", "finite_number"),
        ('{"daily_budget_usd": Infinity}', "daily_budget_usd", "finite_number"),
        ({"daily_budget_usd": -1}, "daily_budget_usd", "greater_than_equal"),
        ({"max_tool_calls_per_minute": 0}, "max_tool_calls_per_minute", "greater_than_equal"),
        ({"max_identical_messages": 1}, "max_identical_messages", "greater_than_equal"),
        ({"token_spike_multiplier": 1}, "token_spike_multiplier", "greater_than"),
        ({"expected_interval_seconds": 0}, "expected_interval_seconds", "greater_than_equal"),
        ({"expected_interval_seconds": 30}, "expected_interval_seconds", "greater_than_equal"),
        ({"on_loop": "explode"}, "on_loop", "literal_error"),
        ({"auto_restart": "yes"}, "auto_restart", "bool_type"),
        ({"enabled": None}, "enabled", "not_null"),
        ({"max_tool_calls": 5}, "max_tool_calls", "extra_forbidden"),
    ],
)
def test_put_rejects_invalid_values(server: ServerProcess, body: Any, field: str,
                                    error_type: str) -> None:
    agent_id = create_agent(server)
    response = put(server, agent_id, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert [(error["loc"], error["type"]) for error in detail] == [(["body", field], error_type)]


def test_interval_below_plan_minimum_names_plan(server: ServerProcess) -> None:
    agent_id = create_agent(server)
    detail = put(server, agent_id, {"expected_interval_seconds": 30}).json()["detail"]
    assert detail[0]["msg"] == (
        "Input should be greater than or equal to 60, the shortest heartbeat interval "
        "of the free plan"
    )


def test_unknown_agent_is_404(server: ServerProcess) -> None:
    response = put(server, 999_999, {"enabled": False})
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found"}
    response = httpx.get(f"{server.url}/api/v1/agents/999999", headers=server.headers())
    assert response.json() == {"detail": "Agent not found"}


def test_other_projects_agent_is_404(server: ServerProcess) -> None:
    with database.connect(server.database_url) as conn:
        other = admin.create_project(conn, f"other-{uuid.uuid4().hex[:8]}")
        row = conn.execute(
            "INSERT INTO agents (project_id, name) VALUES (%s, 'theirs') RETURNING id",
            (other["id"],),
        ).fetchone()
        conn.commit()
    assert row is not None
    response = put(server, row[0], {"enabled": False})
    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found"}
    with psycopg.connect(server.database_url) as conn:
        enabled = conn.execute("SELECT enabled FROM agents WHERE id = %s", (row[0],)).fetchone()
    assert enabled == (True,)


def test_put_without_key_is_401(server: ServerProcess) -> None:
    agent_id = create_agent(server)
    response = put(server, agent_id, {"enabled": False}, headers={})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing X-API-Key header"}


def test_disabling_clears_warning(server: ServerProcess) -> None:
    agent_id = create_agent(server)
    with psycopg.connect(server.database_url) as conn:
        conn.execute("UPDATE agents SET warning = '{\"type\": \"loop\"}' WHERE id = %s",
                     (agent_id,))
    response = put(server, agent_id, {"enabled": False})
    assert response.json()["enabled"] is False
    assert response.json()["warning"] is None
