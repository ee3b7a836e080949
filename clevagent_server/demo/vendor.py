"""A loopback stand-in of OpenAI's Chat Completions API, so the demo never calls a vendor.

It speaks enough of the documented contract for the real openai client: POST
/v1/chat/completions with a bearer token returns a `chat.completion` object whose `usage`
the SDK's auto_cost captures. Token counts are derived from the request: about four
characters per prompt token, and as many completion tokens as `max_tokens` (or
`max_completion_tokens`) asks for, 64 without either. That lets an agent choose what it
costs by what it asks for.
"""

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_COMPLETION_TOKENS = 64
MAX_BODY_BYTES = 1 << 20


@dataclass
class VendorStats:
    """Counts of what the stand-in served, for the demo's summary."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _VendorServer(ThreadingHTTPServer):
    daemon_threads = True
    stats: VendorStats
    lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    server: _VendorServer

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._send(404, _error(f"unknown path {self.path}", "invalid_request_error"))
            return
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self._send(401, _error("missing bearer token", "invalid_request_error"))
            return

        request = self._read_json()
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            self._send(400, _error("the body needs a messages list", "invalid_request_error"))
            return
        completion = chat_completion(request)
        self._count(completion["usage"])
        self._send(200, completion)

    def log_message(self, format: str, *args: Any) -> None:
        # The standard handler writes every request to stderr, which would tear up the
        # demo's terminal view.
        logger.debug(format, *args)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            return None

    def _count(self, usage: dict[str, int]) -> None:
        with self.server.lock:
            self.server.stats.calls += 1
            self.server.stats.prompt_tokens += usage["prompt_tokens"]
            self.server.stats.completion_tokens += usage["completion_tokens"]

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    """Build the `chat.completion` object the vendor would return for this request."""
    prompt_chars = sum(len(str(message.get("content", ""))) for message in request["messages"])
    prompt_tokens = max(1, prompt_chars // 4)
    asked = request.get("max_completion_tokens") or request.get("max_tokens")
    completion_tokens = (
        int(asked) if isinstance(asked, int) and asked > 0 else (DEFAULT_COMPLETION_TOKENS)
    )
    created = int(time.time())
    return {
        "id": f"chatcmpl-demo-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": created,
        "model": str(request.get("model", "gpt-4o-mini")),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "(demo completion)"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@contextmanager
def running_vendor(host: str = "127.0.0.1") -> Iterator[tuple[str, VendorStats]]:
    """Serve the stand-in on a free port of host; yield its base URL (ending in /v1)."""
    server = _VendorServer((host, 0), _Handler)
    server.stats = VendorStats()
    server.lock = threading.Lock()
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.2},
        name="demo-vendor",
        daemon=True,
    )
    thread.start()
    port = server.server_address[1]
    logger.info("OpenAI stand-in listening on http://%s:%d/v1", host, port)
    try:
        yield f"http://{host}:{port}/v1", server.stats
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
