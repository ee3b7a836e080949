"""GET /metrics: exposition format, event counters, detector metrics and the series cap."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clevagent_server.ingest.metrics import read_snapshot, render
from tests.telemetry.telemetry_support import send_heartbeat, start_telemetry_server


def scrape(server: Any) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample(families: dict[str, Any], family: str, **labels: str) -> float | None:
    values = [
        s.value
        for s in families[family].samples
        if not s.name.endswith("_created") and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(values) <= 1, values
    return values[0] if values else None


def heartbeat_request_count(families: dict[str, Any]) -> float:
    [count] = [
        s.value
        for s in families["clevagent_http_server_request_duration_seconds"].samples
        if s.name == "clevagent_http_server_request_duration_seconds_count"
        and s.labels["route"] == "/api/v1/heartbeat"
        and s.labels["status_code"] == "200"
    ]
    return float(count)


def add_events(server: Any, agent_id: int, events: list[tuple[str, str | None]]) -> None:
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        for event_type, signal in events:
            conn.execute(
                "INSERT INTO agent_events (project_id, agent_id, type, signal) "
                "VALUES (%s, %s, %s, %s)",
                (server.project_id, agent_id, event_type, signal),
            )


def test_metric_types_and_units(telemetry_server: Any) -> None:
    send_heartbeat(telemetry_server, agent="typed", tokens_used=10, cost_usd=0.1)

    families = scrape(telemetry_server)

    assert families["clevagent_agent_cost_usd"].type == "counter"
    assert families["clevagent_agent_tokens"].type == "counter"
    assert families["clevagent_agent_heartbeats"].type == "counter"
    assert families["clevagent_agent_heartbeat_age_seconds"].type == "gauge"
    assert families["clevagent_agent_last_heartbeat_timestamp_seconds"].type == "gauge"
    assert families["clevagent_agent_status"].type == "gauge"
    assert families["clevagent_http_server_request_duration_seconds"].type == "histogram"
    labels = {"project": telemetry_server.project, "agent": "typed"}
    assert sample(families, "clevagent_agent_heartbeats", **labels) == 1
    assert 0 <= sample(families, "clevagent_agent_heartbeat_age_seconds", **labels) < 60


def test_loop_and_restart_events_are_counted(telemetry_server: Any) -> None:
    agent_id = send_heartbeat(telemetry_server, agent="loopy")["agent_id"]
    add_events(
        telemetry_server,
        agent_id,
        [
            ("loop_started", "tool_call_rate"),
            ("loop_started", "tool_call_rate"),
            ("loop_started", "identical_messages"),
            ("loop_ended", "tool_call_rate"),
            ("restart_queued", None),
            ("restart_succeeded", None),
        ],
    )

    families = scrape(telemetry_server)
    labels = {"project": telemetry_server.project, "agent": "loopy"}

    loops = "clevagent_agent_loop_detections"
    assert sample(families, loops, **labels, signal="tool_call_rate") == 2
    assert sample(families, loops, **labels, signal="identical_messages") == 1
    restarts = "clevagent_agent_restart_events"
    assert sample(families, restarts, **labels, event="queued") == 1
    assert sample(families, restarts, **labels, event="succeeded") == 1
    assert sample(families, restarts, **labels, event="failed") is None


def test_detector_run_is_exported(pg_database_url: str, tmp_path: Path) -> None:
    # The server's own detector would record newer runs than the one inserted here.
    server = start_telemetry_server(pg_database_url, tmp_path, "--no-detectors")
    try:
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO detector_runs (started_at, finished_at, duration_seconds, "
                "agents_checked, events_written) VALUES "
                "(now() - interval '1 second', now(), 0.042, 7, 2)"
            )
        families = scrape(server)
    finally:
        server.stop()

    assert sample(families, "clevagent_detector_last_run_duration_seconds") == 0.042
    assert sample(families, "clevagent_detector_last_run_agents_checked") == 7
    assert sample(families, "clevagent_detector_last_run_failed") == 0


def test_agents_past_the_cap_only_count_in_totals(telemetry_server: Any) -> None:
    for name, cost in (("first", 1.0), ("second", 2.0), ("third", 4.0)):
        send_heartbeat(telemetry_server, agent=name, cost_usd=cost)

    async def read() -> Any:
        async with await psycopg.AsyncConnection.connect(telemetry_server.database_url) as conn:
            return await read_snapshot(conn, max_agents=1)

    snapshot = asyncio.run(read())
    families = {f.name: f for f in text_string_to_metric_families(render(snapshot).decode())}

    assert [a.agent for a in snapshot.agents] == ["first"]
    assert sample(families, "clevagent_agent_cost_usd", agent="first") == 1.0
    assert sample(families, "clevagent_agent_cost_usd", agent="third") is None
    assert sample(families, "clevagent_project_cost_usd", project=telemetry_server.project) == 7.0
    assert sample(families, "clevagent_metrics_agents_omitted") == 2
    assert sample(families, "clevagent_metrics_agent_series_limit") == 1


def test_request_counts_merge_across_workers(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = start_telemetry_server(pg_database_url, tmp_path, "--workers", "2")
    try:
        for _ in range(20):
            send_heartbeat(server, agent="busy")
        # Each scrape is served by whichever worker accepts the connection.
        counts = [heartbeat_request_count(scrape(server)) for _ in range(6)]
    finally:
        server.stop()

    assert counts == [20.0] * 6


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic c2VjcmV0", "Bearer", "secret-token"]
)
def test_metrics_token_rejects_other_credentials(
    pg_database_url: str, tmp_path: Path, authorization: str | None
) -> None:
    server = start_telemetry_server(pg_database_url, tmp_path, "--metrics-token", "secret-token")
    try:
        headers = {"Authorization": authorization} if authorization else {}
        rejected = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10)
        allowed = httpx.get(
            f"{server.url}/metrics", headers={"Authorization": "Bearer secret-token"}, timeout=10
        )
    finally:
        server.stop()

    assert rejected.status_code == 401
    assert rejected.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "CLEVAGENT_METRICS_TOKEN" in rejected.json()["detail"]
    assert "clevagent_" not in rejected.text
    assert allowed.status_code == 200
    assert "clevagent_project_agents" in allowed.text


def test_metrics_token_reaches_every_worker(pg_database_url: str, tmp_path: Path) -> None:
    server = start_telemetry_server(
        pg_database_url, tmp_path, "--workers", "2", "--metrics-token", "shared-token"
    )
    try:
        # Each request is served by whichever worker accepts the connection.
        rejected = [httpx.get(f"{server.url}/metrics", timeout=10).status_code for _ in range(6)]
        allowed = [
            httpx.get(
                f"{server.url}/metrics",
                headers={"Authorization": "Bearer shared-token"},
                timeout=10,
            ).status_code
            for _ in range(6)
        ]
    finally:
        server.stop()

    assert rejected == [401] * 6
    assert allowed == [200] * 6


def test_metrics_token_trimmed_and_utf8(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A token read from a file keeps its final newline, and clients send UTF-8.
    monkeypatch.setenv("CLEVAGENT_METRICS_TOKEN", "t\u00f6ken\n")
    server = start_telemetry_server(pg_database_url, tmp_path)
    try:
        allowed = httpx.get(
            f"{server.url}/metrics",
            headers={"Authorization": "Bearer t\u00f6ken".encode()},
            timeout=10,
        )
        latin1 = httpx.get(
            f"{server.url}/metrics",
            headers={"Authorization": "Bearer t\u00f6ken".encode("latin-1")},
            timeout=10,
        )
    finally:
        server.stop()

    assert allowed.status_code == 200
    assert latin1.status_code == 401
