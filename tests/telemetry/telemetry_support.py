"""Helpers shared by the telemetry tests."""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from clevagent_server import admin
from clevagent_server.db import database
from tests.support import ServerProcess, free_port

# Seconds between two runs of the server's telemetry thread in these tests.
EXPORT_INTERVAL_SECONDS = 1.0


def send_heartbeat(server: Any, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/api/v1/heartbeat", json=fields, headers=server.headers(), timeout=10
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Call check until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s; last result {result!r}")
        time.sleep(interval)


@dataclass
class ReceivedExport:
    at: float
    path: str
    content_type: str
    request: ExportMetricsServiceRequest


@dataclass
class OtlpReceiver:
    """An OTLP/HTTP receiver that decodes every POST as an ExportMetricsServiceRequest.

    fail_next makes the receiver reject that many requests with 503 first, as an
    overloaded collector does.
    """

    port: int = 0
    exports: list[ReceivedExport] = field(default_factory=list)
    failed_attempts: int = 0
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, path: str, content_type: str, body: bytes) -> int:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.failed_attempts += 1
                return 503
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            self.exports.append(ReceivedExport(time.monotonic(), path, content_type, request))
            return 200

    def received(self) -> list[ReceivedExport]:
        with self.lock:
            return list(self.exports)


def handler_for(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.handle(self.path, self.headers.get("Content-Type", ""), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start_telemetry_server(database_url: str, tmp_path: Path, *args: str) -> ServerProcess:
    """Start `clevagent serve` with a project, a key and the given extra options."""
    with database.connect(database_url) as conn:
        project = admin.create_project(conn, f"telemetry-{uuid.uuid4().hex[:8]}")
        key = admin.create_key(conn, project["name"], "tests")
    server = ServerProcess(
        database_url,
        free_port(),
        tmp_path / "serve.log",
        extra_args=["--otel-interval", str(EXPORT_INTERVAL_SECONDS), *args],
    )
    server.project, server.project_id, server.api_key = project["name"], project["id"], key["key"]
    server.start()
    return server
