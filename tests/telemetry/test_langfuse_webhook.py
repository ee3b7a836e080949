"""POST /api/v1/webhooks/langfuse: events, queued restarts and error bodies."""

from typing import Any

import httpx
import psycopg

from tests.telemetry.telemetry_support import send_heartbeat


def deliver(server: Any, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/webhooks/langfuse",
        json=body,
        headers=server.headers() if headers is None else headers,
        timeout=10,
    )


def enable_auto_restart(server: Any, agent_id: int) -> None:
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE agents SET auto_restart = true, restart_type = 'docker', "
            "restart_target = 'worker-1' WHERE id = %s",
            (agent_id,),
        )


def events_of(server: Any, agent_id: int) -> list[tuple[str, Any]]:
    with psycopg.connect(server.database_url) as conn:
        rows = conn.execute(
            "SELECT type, details FROM agent_events WHERE agent_id = %s ORDER BY id", (agent_id,)
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def test_error_queues_restart_for_runner(telemetry_server: Any) -> None:
    agent_id = send_heartbeat(telemetry_server, agent="crashy")["agent_id"]
    enable_auto_restart(telemetry_server, agent_id)

    response = deliver(
        telemetry_server,
        {
            "agent_name": "crashy",
            "status": "error",
            "message": "trace failed",
            "trace_id": "abc-123",
        },
    )
    body = response.json()
    commands = httpx.get(
        f"{telemetry_server.url}/api/v1/commands", headers=telemetry_server.headers(), timeout=10
    ).json()

    assert response.status_code == 200
    assert body["received"] is True
    assert body["agent_id"] == agent_id
    assert body["restart_queued"] is True
    assert [c["id"] for c in commands] == [body["restart_command_id"]]
    assert commands[0]["action"] == "restart"
    assert commands[0]["type"] == "docker"
    assert commands[0]["target"] == "worker-1"
    assert commands[0]["agent"] == "crashy"
    assert "abc-123" in commands[0]["reason"]
    events = events_of(telemetry_server, agent_id)
    assert [e[0] for e in events] == ["langfuse_error", "restart_queued"]
    assert events[0][1] == {"trace_id": "abc-123", "message": "trace failed"}
    assert events[1][1]["command_id"] == body["restart_command_id"]


def test_second_error_reuses_pending_restart(telemetry_server: Any) -> None:
    agent_id = send_heartbeat(telemetry_server, agent="crashy")["agent_id"]
    enable_auto_restart(telemetry_server, agent_id)

    first = deliver(telemetry_server, {"agent_name": "crashy", "status": "error"}).json()
    second = deliver(telemetry_server, {"agent_name": "crashy", "status": "ERROR"}).json()

    assert first["restart_queued"] is True
    assert second["restart_queued"] is False
    assert second["restart_command_id"] == first["restart_command_id"]
    assert [e[0] for e in events_of(telemetry_server, agent_id)] == [
        "langfuse_error",
        "restart_queued",
        "langfuse_error",
    ]


def test_error_without_auto_restart_only_records_event(telemetry_server: Any) -> None:
    agent_id = send_heartbeat(telemetry_server, agent="steady")["agent_id"]

    body = deliver(telemetry_server, {"agent_name": "steady", "status": "error"}).json()

    assert body["event_id"] is not None
    assert body["restart_queued"] is False
    assert body["restart_command_id"] is None
    assert [e[0] for e in events_of(telemetry_server, agent_id)] == ["langfuse_error"]


def test_non_error_status_is_recorded_without_event(telemetry_server: Any) -> None:
    agent_id = send_heartbeat(telemetry_server, agent="steady")["agent_id"]

    response = deliver(
        telemetry_server, {"agent_name": "steady", "status": "ok", "trace_id": "t-9"}
    )
    with psycopg.connect(telemetry_server.database_url) as conn:
        stored = conn.execute(
            "SELECT status, trace_id, event_id FROM langfuse_deliveries WHERE agent_id = %s",
            (agent_id,),
        ).fetchall()

    assert response.status_code == 200
    assert response.json()["event_id"] is None
    assert events_of(telemetry_server, agent_id) == []
    assert stored == [("ok", "t-9", None)]


def test_unknown_agent_is_404_naming_it(telemetry_server: Any) -> None:
    response = deliver(telemetry_server, {"agent_name": "ghost", "status": "error"})

    assert response.status_code == 404
    assert response.json() == {
        "detail": (
            "Agent 'ghost' not found in this project. An agent is created by its first "
            "heartbeat, or by `clevagent agent register PROJECT AGENT`."
        )
    }


def test_bad_bodies_are_422(telemetry_server: Any) -> None:
    missing = deliver(telemetry_server, {"status": "error"})
    empty_status = deliver(telemetry_server, {"agent_name": "a", "status": ""})
    not_json = httpx.post(
        f"{telemetry_server.url}/api/v1/webhooks/langfuse",
        content=b"{",
        headers={**telemetry_server.headers(), "Content-Type": "application/json"},
        timeout=10,
    )

    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"loc": ["body", "agent_name"], "msg": "field required", "type": "missing"}
    ]
    assert empty_status.status_code == 422
    assert empty_status.json()["detail"][0]["loc"] == ["body", "status"]
    assert not_json.status_code == 422


def test_missing_key_is_401(telemetry_server: Any) -> None:
    response = deliver(telemetry_server, {"agent_name": "a", "status": "error"}, headers={})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing X-API-Key header"}
