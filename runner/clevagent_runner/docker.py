"""The docker watch type, through the Docker Engine API on its unix socket.

Paths carry no API version prefix, so the daemon answers with its own current version;
the fields read here (State.Running, State.Status, State.ExitCode, State.Health.Status,
RestartCount) have kept their names across Engine API versions 1.25 to 1.47.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from clevagent_runner.config import TargetConfig
from clevagent_runner.liveness import (
    ALIVE,
    BLOCKED,
    DEAD,
    STARTING,
    UNKNOWN,
    ActionError,
    Liveness,
)

DEFAULT_SOCKET = "/var/run/docker.sock"
REQUEST_TIMEOUT = 10.0


def socket_path(env: Mapping[str, str]) -> str:
    """Return the Engine API socket: DOCKER_HOST if it is a unix:// address, else the default."""
    host = env.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host.removeprefix("unix://")
    return DEFAULT_SOCKET


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class EngineError(Exception):
    """A failed Engine API request; status is 0 when the socket itself failed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EngineClient:
    """A minimal Docker Engine API client: one connection per request, JSON bodies."""

    def __init__(self, path: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    def request(self, method: str, url: str, timeout: float | None = None) -> tuple[int, Any]:
        conn = UnixHTTPConnection(self.path, timeout or self.timeout)
        try:
            conn.request(method, url, headers={"Host": "docker"})
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(0, f"Docker Engine API at {self.path} failed: {exc}") from None
        finally:
            conn.close()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"message": raw.decode(errors="replace")[:200]}
        return response.status, body


def error_message(body: Any) -> str:
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return "no message"


def liveness_from_inspect(body: dict[str, Any], restart_unhealthy: bool) -> Liveness:
    """Map GET /containers/{name}/json to a Liveness."""
    state = body.get("State") or {}
    status = str(state.get("Status", "unknown"))
    exit_code = state.get("ExitCode")
    restarts = body.get("RestartCount")
    health = (state.get("Health") or {}).get("Status")
    extra = {"exit_code": exit_code if isinstance(exit_code, int) else None,
             "restart_count": restarts if isinstance(restarts, int) else None,
             "pid": state.get("Pid") or None}

    if state.get("Restarting") or status == "restarting":
        return Liveness(STARTING, "restarting (Docker's restart policy)", **extra)
    if not state.get("Running"):
        return Liveness(DEAD, f"container {status}, exit code {exit_code}", **extra)
    if state.get("Paused"):
        return Liveness(UNKNOWN, "container paused", **extra)
    if health == "unhealthy":
        detail = "running but unhealthy"
        return Liveness(DEAD if restart_unhealthy else ALIVE, detail, **extra)
    if health == "starting":
        return Liveness(STARTING, "running, health check starting", **extra)
    suffix = f", {health}" if health else ""
    return Liveness(ALIVE, f"running{suffix}, {restarts} restarts", **extra)


class DockerDriver:
    """Checks, restarts and stops one container by name or id."""

    def __init__(self, config: TargetConfig, client: EngineClient) -> None:
        self.config = config
        self.client = client
        self.name = quote(config.target.lstrip("/"), safe="")

    def check(self) -> Liveness:
        try:
            status, body = self.client.request("GET", f"/containers/{self.name}/json")
        except EngineError as exc:
            return Liveness(UNKNOWN, str(exc))
        if status == 404:
            return Liveness(BLOCKED, f"container not found: {error_message(body)}")
        if status != 200 or not isinstance(body, dict):
            return Liveness(UNKNOWN, f"inspect failed with HTTP {status}: {error_message(body)}")
        return liveness_from_inspect(body, self.config.restart_unhealthy)

    def post(self, action: str) -> int:
        """POST /containers/{name}/{action}; wait for Docker's own stop timeout plus slack."""
        seconds = int(self.config.stop_timeout)
        url = f"/containers/{self.name}/{action}?t={seconds}"
        try:
            status, body = self.client.request("POST", url, timeout=seconds + REQUEST_TIMEOUT)
        except EngineError as exc:
            raise ActionError(str(exc)) from None
        if status not in (204, 304):
            raise ActionError(f"docker {action} failed with HTTP {status}: {error_message(body)}")
        return status

    def restart(self) -> str:
        self.post("restart")
        return "docker restart done"

    def stop(self) -> str:
        status = self.post("stop")
        return "container was already stopped" if status == 304 else "docker stop done"
