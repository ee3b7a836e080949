"""A small heartbeat endpoint whose answers a test scripts: 200, 429, 503, 401 and so on.

Only for the worker's retry and backoff rules, which need failures on demand; everything
else in tests/sdk talks to the real server.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    at: float
    body: dict[str, Any]
    headers: dict[str, str]


def ok_reply(**extra: Any) -> Reply:
    body = {"received": True, "agent_id": 1, "status": "healthy", "duplicate": False,
            "min_interval_seconds": 1, "warning": None}
    body.update(extra)
    return Reply(200, body)


class ScriptedIngest:
    """Serve POST /api/v1/heartbeat on 127.0.0.1 with replies popped from a script.

    When the script is empty, every request gets a plain 200.
    """

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self.condition = threading.Condition()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ScriptedIngest:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until count requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} heartbeats within {timeout} s, got "
                        f"{len(self.received)}")
                self.condition.wait(remaining)
            return list(self.received)

    def wait_until(self, predicate: Callable[[list[Received]], bool],
                   timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"condition not met within {timeout} s; "
                                         f"received {[r.body for r in self.received]}")
                self.condition.wait(remaining)
            return list(self.received)

    def _next_reply(self) -> Reply:
        with self.condition:
            return self.script.pop(0) if self.script else ok_reply()

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self.condition:
            self.received.append(Received(time.monotonic(), body, headers))
            self.condition.notify_all()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        ingest = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                reply = ingest._next_reply()
                ingest._record(body, dict(self.headers))

                data = json.dumps(reply.body if reply.body is not None else {}).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
