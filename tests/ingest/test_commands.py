"""GET /api/v1/commands and POST /api/v1/commands/{id}/result against a real database."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clevagent_server import admin
from clevagent_server.db import database
from clevagent_server.ingest import commands, events
from clevagent_server.ingest.app import create_app


def with_runner_routes(app: FastAPI) -> FastAPI:
    """Include the runner routers unless the application already registers them."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/api/v1/commands" not in paths:
        app.include_router(commands.router)
    if "/api/v1/events" not in paths:
        app.include_router(events.router)
    return app


@dataclass
class Project:
    id: int
    name: str
    headers: dict[str, str]


def new_project(url: str) -> Project:
    with database.connect(url) as conn:
        project = admin.create_project(conn, f"runner-{uuid.uuid4().hex[:8]}")
        key = admin.create_key(conn, project["name"], "tests")
    return Project(project["id"], project["name"], {"X-API-Key": key["key"]})


@pytest.fixture
def client(pg_database_url: str) -> Iterator[TestClient]:
    with TestClient(with_runner_routes(create_app(pg_database_url))) as test_client:
        yield test_client


def queue(
    url: str,
    project: Project,
    agent: str | None,
    action: str = "restart",
    reason: str = "agent dead",
) -> int:
    """Insert a command as the detectors do and return its id."""
    with psycopg.connect(url, autocommit=True) as conn:
        agent_id = None
        if agent is not None:
            agent_id = conn.execute(
                "INSERT INTO agents (project_id, name) VALUES (%s, %s) "
                "ON CONFLICT (project_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                (project.id, agent),
            ).fetchone()[0]
        return conn.execute(
            "INSERT INTO restart_commands (project_id, agent_id, action, type, target, reason) "
            "VALUES (%s, %s, %s, 'process', '/run/x.pid', %s) RETURNING id",
            (project.id, agent_id, action, reason),
        ).fetchone()[0]


def command_row(url: str, command_id: int) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, result, delivered_at IS NOT NULL, completed_at IS NOT NULL "
            "FROM restart_commands WHERE id = %s",
            (command_id,),
        ).fetchone()


def test_commands_delivers_pending_once(client, pg_database_url):
    project = new_project(pg_database_url)
    first = queue(pg_database_url, project, "bot", reason="no heartbeat for 300 s")
    second = queue(pg_database_url, project, "bot", action="stop", reason="cost_exceeded")

    response = client.get("/api/v1/commands", headers=project.headers)

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": first,
            "action": "restart",
            "type": "process",
            "target": "/run/x.pid",
            "agent": "bot",
            "reason": "no heartbeat for 300 s",
        },
        {
            "id": second,
            "action": "stop",
            "type": "process",
            "target": "/run/x.pid",
            "agent": "bot",
            "reason": "cost_exceeded",
        },
    ]
    assert command_row(pg_database_url, first)[:3] == ("delivered", None, True)
    assert client.get("/api/v1/commands", headers=project.headers).json() == []


def age_delivery(url: str, command_id: int, seconds: float) -> None:
    """Move a command's last delivery seconds into the past."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE restart_commands SET delivered_at = delivered_at - make_interval(secs => %s) "
            "WHERE id = %s",
            (seconds, command_id),
        )


def deliveries(url: str, command_id: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT deliveries FROM restart_commands WHERE id = %s", (command_id,)
        ).fetchone()
    return int(row[0])


def test_unanswered_command_is_delivered_again(client, pg_database_url):
    project = new_project(pg_database_url)
    command = queue(pg_database_url, project, "bot")
    assert [c["id"] for c in client.get("/api/v1/commands", headers=project.headers).json()] == [
        command
    ]
    age_delivery(pg_database_url, command, commands.COMMAND_LEASE_SECONDS - 30)
    early = client.get("/api/v1/commands", headers=project.headers).json()
    age_delivery(pg_database_url, command, 60)

    again = client.get("/api/v1/commands", headers=project.headers).json()

    assert early == []
    assert [c["id"] for c in again] == [command]
    assert deliveries(pg_database_url, command) == 2
    assert command_row(pg_database_url, command)[0] == "delivered"


def test_answered_command_is_not_delivered_again(client, pg_database_url):
    project = new_project(pg_database_url)
    command = queue(pg_database_url, project, "bot")
    client.get("/api/v1/commands", headers=project.headers)
    client.post(
        f"/api/v1/commands/{command}/result",
        headers=project.headers,
        json={"status": "completed", "message": "restarted"},
    )
    age_delivery(pg_database_url, command, commands.COMMAND_LEASE_SECONDS + 60)

    assert client.get("/api/v1/commands", headers=project.headers).json() == []
    assert deliveries(pg_database_url, command) == 1


def test_command_fails_after_max_deliveries(client, pg_database_url):
    project = new_project(pg_database_url)
    command = queue(pg_database_url, project, "bot")
    for _ in range(commands.MAX_COMMAND_DELIVERIES):
        delivered = client.get("/api/v1/commands", headers=project.headers).json()
        assert [c["id"] for c in delivered] == [command]
        age_delivery(pg_database_url, command, commands.COMMAND_LEASE_SECONDS + 60)

    last = client.get("/api/v1/commands", headers=project.headers).json()

    assert last == []
    status, result, _, completed = command_row(pg_database_url, command)
    assert status == "failed"
    assert result == f"no result from a runner after {commands.MAX_COMMAND_DELIVERIES} deliveries"
    assert completed is True


def test_commands_filter_by_agent(client, pg_database_url):
    project = new_project(pg_database_url)
    mine = queue(pg_database_url, project, "mine")
    theirs = queue(pg_database_url, project, "theirs")
    agentless = queue(pg_database_url, project, None)

    response = client.get("/api/v1/commands?agent=mine&agent=other", headers=project.headers)

    assert [c["id"] for c in response.json()] == [mine, agentless]
    assert command_row(pg_database_url, theirs)[0] == "pending"


def test_commands_hide_other_projects(client, pg_database_url):
    owner, stranger = new_project(pg_database_url), new_project(pg_database_url)
    command_id = queue(pg_database_url, owner, "bot")

    assert client.get("/api/v1/commands", headers=stranger.headers).json() == []
    assert command_row(pg_database_url, command_id)[0] == "pending"


def test_commands_require_api_key(client):
    response = client.get("/api/v1/commands")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing X-API-Key header"}


def test_result_stored(client, pg_database_url):
    project = new_project(pg_database_url)
    command_id = queue(pg_database_url, project, "bot")
    client.get("/api/v1/commands", headers=project.headers)

    response = client.post(
        f"/api/v1/commands/{command_id}/result",
        headers=project.headers,
        json={"status": "completed", "message": "running again (pid 42)"},
    )

    assert response.status_code == 200
    assert response.json() == {"id": command_id, "status": "completed"}
    assert command_row(pg_database_url, command_id) == (
        "completed",
        "running again (pid 42)",
        True,
        True,
    )


def test_result_for_undelivered_command_accepted(client, pg_database_url):
    project = new_project(pg_database_url)
    command_id = queue(pg_database_url, project, "bot")

    response = client.post(
        f"/api/v1/commands/{command_id}/result",
        headers=project.headers,
        json={"status": "rejected", "message": "not watched here"},
    )

    assert response.status_code == 200
    assert command_row(pg_database_url, command_id)[:2] == ("rejected", "not watched here")


def test_result_twice_conflicts(client, pg_database_url):
    project = new_project(pg_database_url)
    command_id = queue(pg_database_url, project, "bot")
    url = f"/api/v1/commands/{command_id}/result"
    client.post(url, headers=project.headers, json={"status": "failed", "message": "timeout"})

    response = client.post(url, headers=project.headers, json={"status": "completed"})

    assert response.status_code == 409
    assert response.json() == {"detail": f"Command {command_id} already has a result (failed)"}
    assert command_row(pg_database_url, command_id)[:2] == ("failed", "timeout")


def test_result_unknown_command_not_found(client, pg_database_url):
    project = new_project(pg_database_url)

    response = client.post(
        "/api/v1/commands/999999/result",
        headers=project.headers,
        json={"status": "completed", "message": ""},
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Command 999999 not found"}


def test_result_other_projects_command_not_found(client, pg_database_url):
    owner, stranger = new_project(pg_database_url), new_project(pg_database_url)
    command_id = queue(pg_database_url, owner, "bot")

    response = client.post(
        f"/api/v1/commands/{command_id}/result",
        headers=stranger.headers,
        json={"status": "completed", "message": "done"},
    )

    assert response.status_code == 404
    assert response.json() == {"detail": f"Command {command_id} not found"}
    assert command_row(pg_database_url, command_id)[0] == "pending"


def test_result_rejects_unknown_status(client, pg_database_url):
    project = new_project(pg_database_url)
    command_id = queue(pg_database_url, project, "bot")

    response = client.post(
        f"/api/v1/commands/{command_id}/result", headers=project.headers, json={"status": "done"}
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "status"]
    assert error["type"] == "literal_error"


def test_result_message_truncated(client, pg_database_url):
    project = new_project(pg_database_url)
    command_id = queue(pg_database_url, project, "bot")

    client.post(
        f"/api/v1/commands/{command_id}/result",
        headers=project.headers,
        json={"status": "failed", "message": "x" * 5000},
    )

    assert len(command_row(pg_database_url, command_id)[1]) == 2000
