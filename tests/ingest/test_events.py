"""POST /api/v1/events against a real database."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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


def new_project(url: str, strict: bool = False) -> tuple[str, dict[str, str]]:
    with database.connect(url) as conn:
        project = admin.create_project(conn, f"runner-{uuid.uuid4().hex[:8]}", strict_mode=strict)
        key = admin.create_key(conn, project["name"], "tests")
    return project["name"], {"X-API-Key": key["key"]}


@pytest.fixture
def client(pg_database_url: str) -> Iterator[TestClient]:
    with TestClient(with_runner_routes(create_app(pg_database_url))) as test_client:
        yield test_client


def stored_events(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT a.name, e.type, e.severity, e.message, e.details, e.time "
            "FROM agent_events e JOIN agents a ON a.id = e.agent_id ORDER BY e.id").fetchall()


def restart_event(**overrides) -> dict:
    event = {
        "agent": "bot", "type": "restart_attempt", "message": "not running",
        "details": {"reason": "not running", "exit_code": 137, "attempt": 2,
                    "target": "/run/bot.pid", "type": "process"},
    }
    event.update(overrides)
    return event


def test_events_stored_with_details(client, pg_database_url):
    _, headers = new_project(pg_database_url)
    batch = [restart_event(), restart_event(type="crash_loop", message="5 quick exits")]

    response = client.post("/api/v1/events", headers=headers, json={"events": batch})

    assert response.status_code == 200
    body = response.json()
    assert body["received"] == 2
    assert [r["received"] for r in body["results"]] == [True, True]
    assert body["results"][0]["id"] < body["results"][1]["id"]
    rows = stored_events(pg_database_url)
    assert [row[:4] for row in rows] == [
        ("bot", "restart_attempt", "info", "not running"),
        ("bot", "crash_loop", "critical", "5 quick exits"),
    ]
    assert rows[0][4] == {"reason": "not running", "exit_code": 137, "attempt": 2,
                          "target": "/run/bot.pid", "type": "process", "source": "runner"}


def test_events_explicit_severity_kept(client, pg_database_url):
    _, headers = new_project(pg_database_url)

    client.post("/api/v1/events", headers=headers,
                json={"events": [restart_event(type="restart_failed", severity="critical")]})

    assert stored_events(pg_database_url)[0][2] == "critical"


def test_events_message_defaults_to_reason(client, pg_database_url):
    _, headers = new_project(pg_database_url)
    event = restart_event()
    del event["message"]

    client.post("/api/v1/events", headers=headers, json={"events": [event]})

    assert stored_events(pg_database_url)[0][3] == "not running"


def test_events_reject_unknown_type(client, pg_database_url):
    _, headers = new_project(pg_database_url)

    response = client.post("/api/v1/events", headers=headers,
                           json={"events": [restart_event(type="dead")]})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "events", 0, "type"]
    assert stored_events(pg_database_url) == []


def test_events_reject_101_items(client, pg_database_url):
    _, headers = new_project(pg_database_url)

    response = client.post("/api/v1/events", headers=headers,
                           json={"events": [restart_event()] * 101})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events"]


def test_events_strict_mode_rejects_unregistered_agent_alone(client, pg_database_url):
    project, headers = new_project(pg_database_url, strict=True)
    with database.connect(pg_database_url) as conn:
        admin.register_agent(conn, project, "known")

    response = client.post("/api/v1/events", headers=headers, json={
        "events": [restart_event(agent="known"), restart_event(agent="stranger")]})

    body = response.json()
    assert response.status_code == 200
    assert body["received"] == 1
    assert body["results"][0]["received"] is True
    assert body["results"][1]["received"] is False
    assert body["results"][1]["error"]["status_code"] == 403
    assert "'stranger' is not registered" in body["results"][1]["error"]["detail"]
    assert [row[0] for row in stored_events(pg_database_url)] == ["known"]


def test_event_time_kept_when_plausible(client, pg_database_url):
    _, headers = new_project(pg_database_url)
    sent = datetime.now(UTC) - timedelta(hours=2)

    client.post("/api/v1/events", headers=headers,
                json={"events": [restart_event(time=sent.isoformat())]})

    assert abs(stored_events(pg_database_url)[0][5] - sent) < timedelta(seconds=1)


def test_event_time_from_future_replaced(client, pg_database_url):
    _, headers = new_project(pg_database_url)
    sent = datetime.now(UTC) + timedelta(days=3)

    client.post("/api/v1/events", headers=headers,
                json={"events": [restart_event(time=sent.isoformat())]})

    assert abs(stored_events(pg_database_url)[0][5] - datetime.now(UTC)) < timedelta(minutes=1)


def test_events_require_api_key(client):
    response = client.post("/api/v1/events", json={"events": [restart_event()]})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing X-API-Key header"}


def test_events_listed_newest_first(client, pg_database_url):
    _, headers = new_project(pg_database_url)
    _, other = new_project(pg_database_url)
    client.post("/api/v1/events", headers=headers, json={"events": [
        restart_event(), restart_event(type="restart_succeeded"),
        restart_event(agent="other-bot")]})
    client.post("/api/v1/events", headers=other, json={"events": [restart_event()]})

    response = client.get("/api/v1/events?agent=bot", headers=headers)

    assert response.status_code == 200
    listed = response.json()
    assert [(e["agent"], e["type"]) for e in listed] == [
        ("bot", "restart_succeeded"), ("bot", "restart_attempt")]
    assert listed[1]["details"]["exit_code"] == 137
    only = client.get("/api/v1/events?type=restart_attempt", headers=headers).json()
    assert sorted(e["agent"] for e in only) == ["bot", "other-bot"]
