"""HTTP client for the ClevAgent API, and the outbox of events and command results."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Any

from clevagent_runner import __version__

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
MAX_BATCH = 100
OUTBOX_LIMIT = 1000


@dataclass(frozen=True)
class Response:
    """An API response; status 0 means no HTTP response arrived at all."""

    status: int
    body: Any
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def permanent_failure(self) -> bool:
        """Return True for errors a retry cannot fix (a 4xx other than 408 and 429)."""
        return 400 <= self.status < 500 and self.status not in (408, 429)


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class ApiClient:
    """Sends JSON requests with the project's X-API-Key; never raises for HTTP or network errors."""

    def __init__(self, endpoint: str, api_key: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Response:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        request.add_header("X-API-Key", self.api_key)
        request.add_header("User-Agent", f"clevagent-runner-oss/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Response(response.status, self.decode(response.read()))
        except urllib.error.HTTPError as exc:
            retry = retry_after_seconds(exc.headers.get("Retry-After"))
            return Response(exc.code, self.decode(exc.read()), retry)
        except (OSError, ValueError) as exc:
            # URLError, connection refused, timeouts and malformed URLs alike.
            return Response(0, {"detail": str(getattr(exc, "reason", exc))})

    @staticmethod
    def decode(raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return {"detail": raw.decode(errors="replace")[:200]}

    def send_heartbeats(self, heartbeats: list[dict[str, Any]]) -> Response:
        return self.request("POST", "/api/v1/heartbeat/batch", {"heartbeats": heartbeats})

    def fetch_commands(self, agents: list[str]) -> Response:
        query = urllib.parse.urlencode([("agent", name) for name in agents])
        return self.request("GET", "/api/v1/commands" + (f"?{query}" if query else ""))

    def send_result(self, command_id: int, status: str, message: str) -> Response:
        body = {"status": status, "message": message}
        return self.request("POST", f"/api/v1/commands/{command_id}/result", body)

    def send_events(self, events: list[dict[str, Any]]) -> Response:
        return self.request("POST", "/api/v1/events", {"events": events})


class Outbox:
    """Events and command results waiting to be sent, shared by the worker threads.

    Workers never do network I/O themselves: they append here and the main loop sends, so
    a slow or unreachable server delays reports but never a restart. The queue is bounded
    and drops its oldest entries first, counting them.
    """

    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self.lock = threading.Lock()
        self.events: deque[dict[str, Any]] = deque()
        self.results: deque[tuple[int, str, str]] = deque()
        self.limit = limit
        self.dropped = 0

    def add_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            if len(self.events) >= self.limit:
                self.events.popleft()
                self.dropped += 1
            self.events.append(event)

    def add_result(self, command_id: int, status: str, message: str) -> None:
        with self.lock:
            self.results.append((command_id, status, message[:2000]))

    def peek_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)[:MAX_BATCH]

    def drop_events(self, count: int) -> None:
        with self.lock:
            for _ in range(min(count, len(self.events))):
                self.events.popleft()

    def next_result(self) -> tuple[int, str, str] | None:
        with self.lock:
            return self.results[0] if self.results else None

    def drop_result(self) -> None:
        with self.lock:
            if self.results:
                self.results.popleft()

    def empty(self) -> bool:
        with self.lock:
            return not self.events and not self.results
