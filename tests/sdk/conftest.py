"""Fixtures of the SDK tests: the vendor stand-in, the scripted endpoint, SDK teardown."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import clevagent

sys.path.insert(0, str(Path(__file__).parent))

from scripted_ingest import ScriptedIngest  # noqa: E402
from vendor_standin import VendorStandIn  # noqa: E402


@pytest.fixture(autouse=True)
def stop_sdk() -> Iterator[None]:
    """Every test leaves no SDK worker behind."""
    yield
    clevagent.shutdown(timeout=2)


@pytest.fixture
def vendor() -> Iterator[VendorStandIn]:
    stand_in = VendorStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedIngest]:
    ingest = ScriptedIngest().start()
    yield ingest
    ingest.close()


@pytest.fixture
def closed_endpoint() -> str:
    """An endpoint nothing listens on: heartbeats fail at once and counters stay local."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fast_server(server: Any) -> Any:
    """The `server` fixture with a plan minimum of 1 s, so heartbeats come every second.

    Changed before the first request, because the server caches a key's plan.
    """
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        conn.execute("UPDATE plans SET min_interval_seconds = 1")
    return server


def captured() -> dict[str, Any]:
    """Return the counter fields the next heartbeat would carry, without sending it."""
    client = clevagent._client
    assert client is not None, "clevagent.init() was not called"
    state = client.state
    with state.lock:
        state.drain_inbox()
        return state.current.to_fields()


def usage_of(fields: dict[str, Any], model: str) -> dict[str, Any]:
    rows = [row for row in fields.get("usage", []) if row["model"] == model]
    assert len(rows) == 1, f"expected one usage row for {model}, got {fields.get('usage')}"
    return rows[0]


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll predicate until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.05)


def agent_status(server: Any, agent: str) -> dict[str, Any] | None:
    """Return the agent's entry in GET /api/v1/status, or None while it is absent."""
    response = httpx.get(f"{server.url}/api/v1/status", headers=server.headers(), timeout=5)
    response.raise_for_status()
    for entry in response.json()["agents"]:
        if entry["name"] == agent:
            return dict(entry)
    return None


def heartbeat_rows(server: Any, agent: str) -> list[dict[str, Any]]:
    """Return the stored heartbeats of an agent, oldest first."""
    with psycopg.connect(server.database_url) as conn:
        cursor = conn.execute(
            "SELECT h.* FROM heartbeats h JOIN agents a ON a.id = h.agent_id "
            "WHERE a.name = %s ORDER BY h.time, h.seq",
            (agent,),
        )
        columns = [column.name for column in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
