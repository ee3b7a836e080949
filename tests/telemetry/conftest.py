"""Fixtures for the telemetry tests: a server with a short export interval, a real
Prometheus (Debian's package) and an OTLP/HTTP receiver, all on loopback."""

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, free_port
from tests.telemetry.telemetry_support import OtlpReceiver, handler_for, start_telemetry_server


@pytest.fixture
def telemetry_server(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    """A running server whose OTLP exporter runs every EXPORT_INTERVAL_SECONDS."""
    # The exporter talks to loopback receivers; a proxy from the environment must not
    # intercept that.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = start_telemetry_server(pg_database_url, tmp_path)
    yield server
    server.stop()


# --- Prometheus ---------------------------------------------------------------------


@dataclass
class Prometheus:
    """A Prometheus server scraping one target every second, with its HTTP API."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def scalar(self, promql: str) -> float | None:
        """Return the single sample value of an instant query, or None when it is empty."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: clevagent
    metrics_path: /metrics
    static_configs:
      - targets: ["{target}"]
"""

BEARER_CONFIG = """\
    authorization:
      type: Bearer
      credentials: "{token}"
"""


@pytest.fixture
def start_prometheus() -> Iterator[Callable[..., Prometheus]]:
    """Start Prometheus scraping host:port, optionally with a bearer token.

    Each Prometheus is stopped by pid at the end of the test.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: apt-get install -y prometheus")
    started: list[tuple[Prometheus, Path]] = []

    def start(target: str, bearer_token: str | None = None) -> Prometheus:
        workdir = Path(tempfile.mkdtemp(prefix="clevagent-prometheus-"))
        config = PROMETHEUS_CONFIG.format(target=target)
        if bearer_token is not None:
            config += BEARER_CONFIG.format(token=bearer_token)
        (workdir / "prometheus.yml").write_text(config)
        port = free_port()
        log_path = workdir / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
        started.append((prometheus, workdir))
        _wait_ready(prometheus)
        return prometheus

    yield start
    for prometheus, workdir in started:
        prometheus.process.terminate()
        try:
            prometheus.process.wait(10)
        except subprocess.TimeoutExpired:
            prometheus.process.kill()
            prometheus.process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(prometheus: Prometheus, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prometheus.process.poll() is not None:
            pytest.fail(f"prometheus exited early:\n{prometheus.log()}")
        try:
            if httpx.get(f"{prometheus.url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus was not ready in {timeout} s:\n{prometheus.log()}")


# --- OTLP/HTTP receiver -------------------------------------------------------------


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    receiver.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    yield receiver
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)
