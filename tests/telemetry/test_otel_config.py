"""POST and GET /api/v1/projects/{id}/otel-config."""

from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from clevagent_server.ingest.otel import metrics_url, validate_endpoint
from tests.telemetry.telemetry_support import start_telemetry_server


def post_config(server: Any, body: Any, project_id: int | None = None) -> httpx.Response:
    project_id = server.project_id if project_id is None else project_id
    return httpx.post(
        f"{server.url}/api/v1/projects/{project_id}/otel-config",
        json=body,
        headers=server.headers(),
        timeout=10,
    )


def test_config_is_stored_and_returned(telemetry_server: Any) -> None:
    body = {"enabled": True, "endpoint": "https://collector.internal:4318", "format": "otlp"}

    stored = post_config(telemetry_server, body)
    read = httpx.get(
        f"{telemetry_server.url}/api/v1/projects/{telemetry_server.project_id}/otel-config",
        headers=telemetry_server.headers(),
        timeout=10,
    )

    assert stored.status_code == 200
    assert read.json() == stored.json()
    assert read.json()["project_id"] == telemetry_server.project_id
    assert read.json()["endpoint"] == "https://collector.internal:4318"
    assert read.json()["format"] == "otlp"
    assert read.json()["enabled"] is True


def test_prometheus_format_needs_no_endpoint(telemetry_server: Any) -> None:
    response = post_config(telemetry_server, {"enabled": True, "format": "prometheus"})

    assert response.status_code == 200
    assert response.json()["endpoint"] is None


def test_other_project_is_404(telemetry_server: Any) -> None:
    with psycopg.connect(telemetry_server.database_url, autocommit=True) as conn:
        other = conn.execute(
            "INSERT INTO projects (name) VALUES ('someone-else') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]

    for project_id in (other, other + 1000):
        response = post_config(telemetry_server, {"enabled": False}, project_id)
        assert response.status_code == 404
        assert response.json() == {"detail": "Project not found"}


def test_enabled_otlp_without_endpoint_is_422(telemetry_server: Any) -> None:
    response = post_config(telemetry_server, {"enabled": True, "format": "otlp"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "endpoint is required when enabled is true and format is otlp"
    )


BAD_ENDPOINTS = [
    "ftp://collector:4318",
    "http://",
    "https://user:secret@collector:4318",
    "http://collector:99999",
    "http://collector:4318/#frag",
    "http://collector:4318/ path",
    "collector:4318",
    "http://collector/" + "a" * 2048,
]


def test_bad_endpoints_are_422(telemetry_server: Any) -> None:
    for endpoint in BAD_ENDPOINTS:
        response = post_config(telemetry_server, {"enabled": True, "endpoint": endpoint})
        assert response.status_code == 422, endpoint
        assert response.json()["detail"][0]["loc"] == ["body", "endpoint"], endpoint


def test_unknown_format_is_422(telemetry_server: Any) -> None:
    response = post_config(telemetry_server, {"enabled": True, "format": "statsd"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "format"]


def test_validate_endpoint_messages() -> None:
    with pytest.raises(ValueError, match="must not contain credentials"):
        validate_endpoint("https://user:pw@collector:4318")
    with pytest.raises(ValueError, match="http:// or https://"):
        validate_endpoint("grpc://collector:4317")
    with pytest.raises(ValueError, match="must name a host"):
        validate_endpoint("https:///v1/metrics")
    assert validate_endpoint("http://[::1]:4318") == "http://[::1]:4318"


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("https://collector:4318", "https://collector:4318/v1/metrics"),
        ("https://collector:4318/", "https://collector:4318/v1/metrics"),
        ("https://gateway/otlp", "https://gateway/otlp/v1/metrics"),
        ("https://gateway/otlp/v1/metrics", "https://gateway/otlp/v1/metrics"),
    ],
)
def test_metrics_url_appends_signal_path(endpoint: str, url: str) -> None:
    assert metrics_url(endpoint) == url


def test_endpoint_host_outside_allowed_list_is_422(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEVAGENT_OTLP_ALLOWED_HOSTS", "collector.internal, Gateway")
    server = start_telemetry_server(pg_database_url, tmp_path)
    try:
        private = post_config(server, {"enabled": True, "endpoint": "http://10.0.0.5:4318"})
        listed = post_config(server, {"enabled": True, "endpoint": "https://GATEWAY:4318"})
    finally:
        server.stop()

    assert private.status_code == 422
    [error] = private.json()["detail"]
    assert error["loc"] == ["body", "endpoint"]
    assert "'10.0.0.5' is not allowed" in error["msg"]
    assert "collector.internal, gateway" in error["msg"]
    assert "CLEVAGENT_OTLP_ALLOWED_HOSTS" in error["msg"]
    assert listed.status_code == 200


def test_allowed_hosts_match_ipv6_written_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEVAGENT_OTLP_ALLOWED_HOSTS", "[::1], Collector")

    assert validate_endpoint("http://[::1]:4318") == "http://[::1]:4318"
    assert validate_endpoint("https://collector/otlp") == "https://collector/otlp"
    with pytest.raises(ValueError, match="'::2' is not allowed"):
        validate_endpoint("http://[::2]:4318")
