"""The SDK against the real `clevagent serve` on PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import agent_status, heartbeat_rows, wait_until
from openai import OpenAI
from vendor_standin import Tokens, VendorStandIn

import clevagent

TWO_LINES = textwrap.dedent("""
    import os, clevagent
    clevagent.init(api_key=os.environ["CLEVAGENT_API_KEY"], agent="two-lines-agent")

    clevagent.log_cost(tokens=1500, cost_usd=0.045)
    clevagent.ping(message="first iteration done")
""")


def run_script(source: str, server: Any, tmp_path: Path,
               **extra_env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "agent.py"
    script.write_text(source)
    env = {**os.environ, "CLEVAGENT_API_KEY": server.api_key,
           "CLEVAGENT_ENDPOINT": server.url, **extra_env}
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=60)


def test_two_line_agent_appears_in_status(server: Any, tmp_path: Path) -> None:
    result = run_script(TWO_LINES, server, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    entry = wait_until(lambda: agent_status(server, "two-lines-agent"), what="the agent")
    assert entry["tokens_today"] == 1500
    assert entry["cost_usd_today"] == pytest.approx(0.045)

    # The process ended normally, so its last heartbeat has the status shutdown.
    rows = heartbeat_rows(server, "two-lines-agent")
    assert rows[-1]["status"] == "shutdown"
    assert [row["seq"] for row in rows] == sorted({row["seq"] for row in rows})


def test_cost_logged_during_outage_arrives_once(fast_server: Any) -> None:
    server = fast_server
    clevagent.init(api_key=server.api_key, agent="outage-agent", endpoint=server.url,
                   interval=1)
    wait_until(lambda: agent_status(server, "outage-agent"), what="the first heartbeat")

    server.stop()
    for _ in range(5):
        assert clevagent.log_cost(tokens=100, cost_usd=0.25)["ok"] is True
    worker = clevagent._client.worker  # type: ignore[union-attr]
    wait_until(lambda: worker.failures >= 2, what="failed heartbeats during the outage")
    clevagent.log_cost(tokens=1, cost_usd=0.5)

    server.start()
    entry = wait_until(lambda: (e := agent_status(server, "outage-agent"))
                       and e["tokens_today"] >= 501 and e, what="the counters after the outage")
    # Several more heartbeats after the catch-up change nothing.
    seq_now = clevagent._client.state.next_seq  # type: ignore[union-attr]
    wait_until(lambda: clevagent._client.state.next_seq >= seq_now + 2,  # type: ignore[union-attr]
               what="two more heartbeats")

    entry = agent_status(server, "outage-agent")
    assert entry is not None
    assert entry["tokens_today"] == 501
    assert entry["cost_usd_today"] == pytest.approx(1.75)


class ResponseDroppingProxy:
    """Forward requests to the server, but cut the connection instead of passing back the
    first `drop` responses: the server stored the heartbeat, the SDK never heard so."""

    def __init__(self, target_port: int, drop: int) -> None:
        self.target_port = target_port
        self.drop = drop
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                try:
                    self.relay(connection)
                except OSError:
                    # The server stops before the SDK's final heartbeat at teardown.
                    pass

    def relay(self, connection: socket.socket) -> None:
        request = read_http_message(connection)
        with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
            upstream.sendall(request)
            response = read_http_message(upstream)
        if self.drop > 0:
            self.drop -= 1
            return
        connection.sendall(response)

    def close(self) -> None:
        self.listener.close()


def read_http_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def dropping_proxy(fast_server: Any) -> Iterator[ResponseDroppingProxy]:
    proxy = ResponseDroppingProxy(fast_server.port, drop=0)
    yield proxy
    proxy.close()


def test_retry_after_lost_response_counts_once(server: Any,
                                               dropping_proxy: ResponseDroppingProxy) -> None:
    clevagent.log_cost(tokens=1, cost_usd=1.0)  # before init: rejected, not queued
    clevagent.init(api_key=server.api_key, agent="lost-response-agent",
                   endpoint=dropping_proxy.url, interval=1)
    wait_until(lambda: agent_status(server, "lost-response-agent"), what="the first heartbeat")

    dropping_proxy.drop = 2
    clevagent.log_cost(tokens=700, cost_usd=0.7)
    wait_until(lambda: dropping_proxy.drop == 0, what="two dropped responses")
    state = clevagent._client.state  # type: ignore[union-attr]
    wait_until(lambda: state.in_flight is None and not state.has_pending_counters(),
               what="the acknowledgement")

    rows = [row for row in heartbeat_rows(server, "lost-response-agent") if row["tokens_used"]]
    assert [row["tokens_used"] for row in rows] == [700]
    entry = agent_status(server, "lost-response-agent")
    assert entry is not None
    assert entry["tokens_today"] == 700
    assert entry["cost_usd_today"] == pytest.approx(0.7)


def test_captured_usage_is_priced_by_server(fast_server: Any, vendor: VendorStandIn) -> None:
    server = fast_server
    vendor.tokens = Tokens(input=1_000_000, output=0)
    clevagent.init(api_key=server.api_key, agent="priced-agent", endpoint=server.url,
                   interval=1)

    with OpenAI(api_key="sk-test", base_url=vendor.openai_url, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
        vendor.scenario = "no_usage"
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])

    rows = wait_until(lambda: [r for r in heartbeat_rows(server, "priced-agent")
                               if r["llm_calls"]], what="the usage heartbeat")
    row = rows[0]
    assert row["input_tokens"] == 1_000_000
    assert row["llm_calls"] == 1
    assert row["unknown_usage_calls"] == 1
    assert row["cost_usd"] > 0
    assert row["cost_source"] != "client"
