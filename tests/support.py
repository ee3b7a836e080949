"""Helpers shared by tests: free ports and a `clevagent serve` subprocess."""

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from clevagent_server import admin
from clevagent_server.db import database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A `clevagent serve` subprocess with a project and an API key of its own."""

    database_url: str
    port: int
    log_path: Path
    project: str = ""
    project_id: int = 0
    api_key: str = ""
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "clevagent_server", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--database-url", self.database_url, *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"clevagent serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"clevagent serve did not become ready in {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


def start_server(database_url: str, tmp_path: Path, plan: str = "free") -> ServerProcess:
    """Create a project and key in the database, then start a server on it."""
    with database.connect(database_url) as conn:
        project = admin.create_project(conn, f"project-{uuid.uuid4().hex[:8]}", plan=plan)
        key = admin.create_key(conn, project["name"], "tests")
    server = ServerProcess(database_url, free_port(), tmp_path / "serve.log")
    server.project, server.project_id, server.api_key = project["name"], project["id"], key["key"]
    server.start()
    return server
