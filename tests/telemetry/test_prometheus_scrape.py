"""A real Prometheus scrapes `clevagent serve`, and PromQL returns what agents reported."""

import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.telemetry.telemetry_support import poll, send_heartbeat, start_telemetry_server

SDK_AGENT = textwrap.dedent("""
    import sys

    import clevagent

    endpoint, api_key = sys.argv[1], sys.argv[2]
    clevagent.init(api_key=api_key, agent="sdk-agent", endpoint=endpoint, auto_cost=False)
    for tokens, cost in ((1200, 0.0125), (800, 0.0375), (2000, 0.2)):
        clevagent.log_cost(tokens=tokens, cost_usd=cost)
    sys.exit(0 if clevagent.shutdown(timeout=10) else 3)
""")


def run_sdk_agent(server: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SDK_AGENT, server.url, server.api_key],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promql_returns_sdk_agent_cost(telemetry_server: Any, start_prometheus: Any) -> None:
    run_sdk_agent(telemetry_server)
    prometheus = start_prometheus(f"127.0.0.1:{telemetry_server.port}")
    selector = f'project="{telemetry_server.project}",agent="sdk-agent"'

    cost = poll(lambda: prometheus.scalar(f"clevagent_agent_cost_usd_total{{{selector}}}"), 30)

    assert cost == pytest.approx(0.25)
    assert prometheus.scalar(f"clevagent_agent_tokens_total{{{selector}}}") == 4000
    assert prometheus.scalar(f"sum(clevagent_agent_status{{{selector}}})") == 1
    assert prometheus.scalar(
        f'clevagent_project_cost_usd_total{{project="{telemetry_server.project}"}}'
    ) == pytest.approx(0.25)  # noqa: E501
    assert prometheus.scalar('up{job="clevagent"}') == 1


def test_promql_sees_ingest_requests(telemetry_server: Any, start_prometheus: Any) -> None:
    for _ in range(3):
        send_heartbeat(telemetry_server, agent="counted", tokens_used=1)
    prometheus = start_prometheus(f"127.0.0.1:{telemetry_server.port}")
    requests = (
        "sum(clevagent_http_server_request_duration_seconds_count"
        '{method="POST",route="/api/v1/heartbeat",status_code="200"})'
    )

    count = poll(lambda: prometheus.scalar(requests), 30)
    slow = prometheus.scalar(
        "sum(clevagent_http_server_request_duration_seconds_bucket"
        '{route="/api/v1/heartbeat",le="+Inf"})'
    )

    assert count == 3
    assert slow == 3


def test_cost_counter_survives_heartbeat_expiry(
    telemetry_server: Any, start_prometheus: Any
) -> None:
    first = send_heartbeat(telemetry_server, agent="expiring", cost_usd=1.5, tokens_used=300)
    prometheus = start_prometheus(f"127.0.0.1:{telemetry_server.port}")
    cost_query = (
        f'clevagent_agent_cost_usd_total{{project="{telemetry_server.project}",agent="expiring"}}'  # noqa: E501
    )
    assert poll(lambda: prometheus.scalar(cost_query), 30) == pytest.approx(1.5)

    # Fold everything up to now into the totals, then drop the heartbeat rows as the
    # retention job would once they are old enough.
    with psycopg.connect(telemetry_server.database_url, autocommit=True) as conn:
        conn.execute("SELECT fold_telemetry_totals(interval '0')")
        deleted = conn.execute(
            "DELETE FROM heartbeats_free WHERE agent_id = %s", (first["agent_id"],)
        ).rowcount
    assert deleted == 1
    send_heartbeat(telemetry_server, agent="expiring", cost_usd=0.5, tokens_used=100)

    assert poll(lambda: prometheus.scalar(cost_query) == pytest.approx(2.0), 30)
    assert prometheus.scalar(f"resets({cost_query}[1m])") == 0
    assert prometheus.scalar(f"min_over_time({cost_query}[1m])") == pytest.approx(1.5)


def test_promql_with_metrics_token(
    pg_database_url: str, tmp_path: Path, start_prometheus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("CLEVAGENT_METRICS_TOKEN", token)
    server = start_telemetry_server(pg_database_url, tmp_path)
    try:
        send_heartbeat(server, agent="guarded", tokens_used=7)
        allowed = start_prometheus(f"127.0.0.1:{server.port}", bearer_token=token)
        rejected = start_prometheus(f"127.0.0.1:{server.port}", bearer_token="wrong")
        selector = f'project="{server.project}",agent="guarded"'

        tokens = poll(lambda: allowed.scalar(f"clevagent_agent_tokens_total{{{selector}}}"), 30)
        poll(lambda: rejected.scalar('up{job="clevagent"}') is not None, 30)
        rejected_up = rejected.scalar('up{job="clevagent"}')
    finally:
        server.stop()

    assert tokens == 7
    assert rejected_up == 0
