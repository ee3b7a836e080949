"""An enabled otel-config makes the server push decodable OTLP/HTTP metrics to a receiver."""

import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from clevagent_server import admin
from tests.telemetry.telemetry_support import (
    EXPORT_INTERVAL_SECONDS,
    OtlpReceiver,
    poll,
    send_heartbeat,
    start_telemetry_server,
)

USAGE = [
    {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 700,
        "output_tokens": 300,
        "cached_tokens": 200,
        "reasoning_tokens": 50,
        "calls": 2,
    }
]


def enable_export(server: Any, endpoint: str) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/projects/{server.project_id}/otel-config",
        json={"enabled": True, "endpoint": endpoint, "format": "otlp"},
        headers=server.headers(),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def attributes(pairs: Any) -> dict[str, Any]:
    result = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        value = pair.value
        result[pair.key] = getattr(value, value.WhichOneof("value"))
    return result


def metrics_by_name(receiver: OtlpReceiver) -> tuple[dict[str, Any], dict[str, Metric]]:
    request = receiver.received()[-1].request
    assert len(request.resource_metrics) == 1
    resource_metrics = request.resource_metrics[0]
    metrics = {m.name: m for scope in resource_metrics.scope_metrics for m in scope.metrics}
    return attributes(resource_metrics.resource.attributes), metrics


def points_of(metric: Metric, agent: str) -> list[Any]:
    data = metric.sum if metric.HasField("sum") else metric.gauge
    return [p for p in data.data_points if attributes(p.attributes)["gen_ai.agent.name"] == agent]


def test_export_arrives_within_two_intervals(
    telemetry_server: Any, otlp_receiver: OtlpReceiver
) -> None:
    send_heartbeat(telemetry_server, agent="pusher", tokens_used=1000, cost_usd=0.75, usage=USAGE)
    enabled_at = time.monotonic()
    enable_export(telemetry_server, otlp_receiver.endpoint)

    poll(otlp_receiver.received, 2 * EXPORT_INTERVAL_SECONDS + 5, interval=0.05)
    first = otlp_receiver.received()[0]

    assert first.at - enabled_at <= 2 * EXPORT_INTERVAL_SECONDS
    assert first.path == "/v1/metrics"
    assert first.content_type == "application/x-protobuf"


def test_export_carries_names_units_and_values(
    telemetry_server: Any, otlp_receiver: OtlpReceiver
) -> None:
    send_heartbeat(telemetry_server, agent="pusher", tokens_used=1000, cost_usd=0.75, usage=USAGE)
    send_heartbeat(telemetry_server, agent="pusher", tokens_used=500, cost_usd=0.25)
    enable_export(telemetry_server, otlp_receiver.endpoint)
    poll(otlp_receiver.received, 10, interval=0.05)

    resource, metrics = metrics_by_name(otlp_receiver)

    assert resource["service.name"] == "clevagent"
    assert resource["clevagent.project.id"] == telemetry_server.project_id
    assert resource["clevagent.project.name"] == telemetry_server.project

    cost = metrics["clevagent.agent.cost"]
    assert cost.unit == "{USD}"
    assert cost.sum.is_monotonic
    assert (
        cost.sum.aggregation_temporality
        == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )  # noqa: E501
    [cost_point] = points_of(cost, "pusher")
    assert cost_point.as_double == pytest.approx(1.0)
    assert 0 < cost_point.start_time_unix_nano < cost_point.time_unix_nano

    [tokens] = points_of(metrics["clevagent.agent.tokens"], "pusher")
    assert metrics["clevagent.agent.tokens"].unit == "{token}"
    assert tokens.as_int == 1500

    [age] = points_of(metrics["clevagent.agent.heartbeat.age"], "pusher")
    assert metrics["clevagent.agent.heartbeat.age"].unit == "s"
    assert 0 <= age.as_double < 60
    assert metrics["clevagent.agent.uptime"].unit == "s"

    statuses = {
        attributes(p.attributes)["clevagent.agent.status"]: p.as_int
        for p in points_of(metrics["clevagent.agent.status"], "pusher")
    }
    assert sorted(statuses) == ["dead", "degraded", "healthy", "unknown"]
    assert sum(statuses.values()) == 1


def test_export_uses_genai_token_counters(
    telemetry_server: Any, otlp_receiver: OtlpReceiver
) -> None:
    send_heartbeat(telemetry_server, agent="pusher", tokens_used=1000, usage=USAGE)
    enable_export(telemetry_server, otlp_receiver.endpoint)
    poll(otlp_receiver.received, 10, interval=0.05)

    _, metrics = metrics_by_name(otlp_receiver)
    expected = {
        "gen_ai.client.inference.usage.input_tokens": 700,
        "gen_ai.client.inference.usage.output_tokens": 300,
        "gen_ai.client.inference.usage.cache_read.input_tokens": 200,
        "gen_ai.client.inference.usage.reasoning.output_tokens": 50,
    }
    for name, value in expected.items():
        [point] = points_of(metrics[name], "pusher")
        labels = attributes(point.attributes)
        assert metrics[name].unit == "{token}", name
        assert metrics[name].sum.is_monotonic, name
        assert point.as_int == value, name
        assert labels["gen_ai.provider.name"] == "openai", name
        assert labels["gen_ai.request.model"] == "gpt-4o-mini", name
        assert labels["gen_ai.operation.name"] == "chat", name
        assert labels["gen_ai.token.modality"] == "unknown", name


def test_failed_export_is_retried_without_slowing_ingest(
    telemetry_server: Any, otlp_receiver: OtlpReceiver
) -> None:
    otlp_receiver.fail_next = 3
    enable_export(telemetry_server, otlp_receiver.endpoint)
    poll(lambda: otlp_receiver.failed_attempts >= 1, 10, interval=0.05)

    started = time.monotonic()
    send_heartbeat(telemetry_server, agent="during-outage", cost_usd=0.5)
    ingest_seconds = time.monotonic() - started

    poll(otlp_receiver.received, 20, interval=0.1)
    _, metrics = metrics_by_name(otlp_receiver)

    assert ingest_seconds < 1.0
    assert otlp_receiver.failed_attempts == 3
    assert [p.as_double for p in points_of(metrics["clevagent.agent.cost"], "during-outage")] == [
        0.5
    ]  # noqa: E501
    assert "OTLP export of project" in telemetry_server.log()
    assert poll(lambda: _last_export_succeeded(telemetry_server), 10)


def _last_export_succeeded(server: Any) -> bool:
    body = httpx.get(
        f"{server.url}/api/v1/projects/{server.project_id}/otel-config",
        headers=server.headers(),
        timeout=10,
    ).json()
    return body["last_export_at"] is not None and body["last_export_error"] is None


def test_export_skips_hosts_outside_allowed_list(
    pg_database_url: str,
    tmp_path: Path,
    otlp_receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both endpoints reach the same receiver; only the host written in the URL differs.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("CLEVAGENT_OTLP_ALLOWED_HOSTS", "127.0.0.1")
    server = start_telemetry_server(pg_database_url, tmp_path)
    try:
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            other = admin.create_project(conn, f"stored-before-{server.project}")
            conn.execute(
                "INSERT INTO otel_configs (project_id, enabled, format, endpoint) "
                "VALUES (%s, true, 'otlp', %s), (%s, true, 'otlp', %s)",
                (
                    server.project_id,
                    f"http://127.0.0.1:{otlp_receiver.port}/allowed",
                    other["id"],
                    f"http://localhost:{otlp_receiver.port}/listed-nowhere",
                ),
            )
        poll(otlp_receiver.received, 2 * EXPORT_INTERVAL_SECONDS + 5, interval=0.05)
        # Two more export cycles, in which the other project would be exported too.
        time.sleep(2 * EXPORT_INTERVAL_SECONDS + 0.5)
    finally:
        server.stop()

    paths = {export.path for export in otlp_receiver.received()}
    assert paths == {"/allowed/v1/metrics"}
    assert "not in CLEVAGENT_OTLP_ALLOWED_HOSTS" in server.log()
