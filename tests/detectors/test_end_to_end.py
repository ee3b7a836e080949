"""The detector inside a real `clevagent serve`: warnings reach the next heartbeat response,
and an agent that stops sending is dead within its interval, the grace and one cycle."""

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from clevagent_server import admin
from clevagent_server.db import database
from clevagent_server.detectors.cycle import run_cycle
from tests.support import ServerProcess, free_port


def serve(database_url: str, tmp_path: Path, *args: str) -> ServerProcess:
    with database.connect(database_url) as conn:
        project = admin.create_project(conn, f"project-{uuid.uuid4().hex[:8]}")
        key = admin.create_key(conn, project["name"], "tests")
    server = ServerProcess(database_url, free_port(), tmp_path / "serve.log",
                           extra_args=list(args))
    server.project, server.project_id, server.api_key = project["name"], project["id"], key["key"]
    server.start()
    return server


@pytest.fixture
def fast_detector_server(pg_database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    running = serve(pg_database_url, tmp_path, "--detector-interval", "0.5")
    yield running
    running.stop()


@pytest.fixture
def server_without_detector(pg_database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    running = serve(pg_database_url, tmp_path, "--no-detectors")
    yield running
    running.stop()


def beat(server: ServerProcess, **fields: object) -> dict[str, object]:
    response = httpx.post(f"{server.url}/api/v1/heartbeat", headers=server.headers(),
                          json={"agent": "looper", **fields}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_looping_agent_gets_warning_in_response(fast_detector_server: ServerProcess) -> None:
    first = beat(fast_detector_server, tool_calls=25)
    assert first["warning"] is None

    deadline = time.monotonic() + 20
    warning = None
    while warning is None and time.monotonic() < deadline:
        time.sleep(0.25)
        warning = beat(fast_detector_server)["warning"]
    assert isinstance(warning, dict)
    assert warning["type"] == "loop"
    assert warning["signal"] == "tool_call_rate"
    assert warning["threshold"] == 10


def test_silent_agent_dead_within_limit(server_without_detector: ServerProcess) -> None:
    server = server_without_detector
    beat(server)
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT last_heartbeat_at FROM agents").fetchone()
        assert row is not None
        last = row[0]
        # Cycles every 10 s of server time from the heartbeat on, as the serve loop runs.
        cycle_at = last
        while cycle_at <= last + timedelta(seconds=120):
            assert run_cycle(conn, now=cycle_at).error is None
            cycle_at += timedelta(seconds=10)
        status = httpx.get(f"{server.url}/api/v1/status", headers=server.headers()).json()
        assert status["agents"][0]["status"] == "degraded"

        # Interval (60 s) + grace (60 s) + one cycle (10 s).
        assert run_cycle(conn, now=last + timedelta(seconds=130)).error is None
    status = httpx.get(f"{server.url}/api/v1/status", headers=server.headers()).json()
    assert status["agents"][0]["status"] == "dead"
    assert status["summary"]["dead"] == 1
