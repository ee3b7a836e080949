"""Databases of both flavours for the Grafana tests, migrated and seeded once per module.

NOTE: the shared `database_url` fixture of tests/conftest.py replaces the two factories
below once it exists; until then they create the same thing: a fresh database, migrated
with the project's migration runner.
"""

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from clevagent_server.db.migrate import migrate

from tests.grafana.seed import Seed, seed_fleet

REPOSITORY = Path(__file__).resolve().parents[2]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TIMESCALEDB_SERVER = REPOSITORY / "tests" / "timescaledb" / "server.mjs"
STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _plain_postgres() -> Iterator[str]:
    name = f"grafana_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        migrate(url, "postgres")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_until_ready(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == f"ready {port}":
            return
        if not line and process.poll() is not None:
            raise RuntimeError(f"the TimescaleDB server exited with {process.returncode}")
    raise TimeoutError(f"the TimescaleDB server was not ready within {STARTUP_SECONDS} s")


def _timescaledb() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        ["node", str(TIMESCALEDB_SERVER), str(port)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=TIMESCALEDB_SERVER.parent,
    )
    try:
        _wait_until_ready(process, port)
        url = f"postgresql://u:p@127.0.0.1:{port}/postgres?sslmode=disable"
        migrate(url, "timescaledb")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module", params=["postgres", "timescaledb"])
def seeded(request: pytest.FixtureRequest) -> Iterator[Seed]:
    """Return a migrated database of each flavour with the seeded fleet."""
    flavour = request.param
    factory = _plain_postgres if flavour == "postgres" else _timescaledb
    for url in factory():
        with psycopg.connect(url, autocommit=True) as conn:
            yield seed_fleet(conn, url, flavour)
