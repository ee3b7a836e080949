"""Shared fixtures: real databases in three tiers, and a running `clevagent serve`.

Tiers:
- embedded: the embedded PostgreSQL that `clevagent serve` starts by default;
- postgres: the PostgreSQL server named by CLEVAGENT_TEST_DATABASE_URL (an admin URL;
  each test gets a database of its own there);
- timescaledb: the TimescaleDB build for tests (PGlite with the extension, from the npm
  packages pinned in tests/timescaledb), started once per session. It serves a single
  database, which is emptied for each test; so a test holds one database at a time there.

A tier whose server is missing is skipped with the reason, unless
CLEVAGENT_REQUIRE_ALL_TIERS=1 (what CI sets), which turns the skip into a failure.
"""

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from clevagent_server.db.migrate import migrate
from tests.support import ServerProcess, free_port, start_server

ROOT = Path(__file__).resolve().parent.parent
TIMESCALEDB_DIR = ROOT / "tests" / "timescaledb"
TIERS = ["embedded", "postgres", "timescaledb"]


def tier_unavailable(reason: str) -> None:
    """Skip, or fail when every tier is required."""
    if os.environ.get("CLEVAGENT_REQUIRE_ALL_TIERS") == "1":
        pytest.fail(f"required database tier unavailable: {reason}")
    pytest.skip(reason)


@dataclass
class Tier:
    """A database server of one tier, able to hand out fresh, empty databases."""

    name: str
    admin_url: str
    created: list[str] = field(default_factory=list)

    def new_database(self) -> str:
        suffix = uuid.uuid4().hex[:12]
        if self.name == "timescaledb":
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute((TIMESCALEDB_DIR / "reset.sql").read_text())  # type: ignore[arg-type]
            return self.admin_url
        name = f"clevagent_test_{suffix}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return str(psycopg.conninfo.make_conninfo(self.admin_url, dbname=name))

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def _start_embedded(tmp: Path) -> Iterator[Tier]:
    from clevagent_server.db import embedded

    url = embedded.start(tmp / "embedded")
    yield Tier("embedded", url)


def _start_postgres() -> Iterator[Tier]:
    url = os.environ.get("CLEVAGENT_TEST_DATABASE_URL")
    if not url:
        tier_unavailable("CLEVAGENT_TEST_DATABASE_URL is not set (the postgres tier needs it)")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        tier_unavailable(f"cannot connect to CLEVAGENT_TEST_DATABASE_URL: {error}")
    yield Tier("postgres", url)  # type: ignore[arg-type]


def _start_timescaledb(tmp: Path) -> Iterator[Tier]:
    node = shutil.which("node")
    if node is None:
        tier_unavailable("node is not installed (the timescaledb tier needs Node.js 20)")
    if not (TIMESCALEDB_DIR / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        tier_unavailable("run `npm ci --prefix tests/timescaledb` to install the TimescaleDB build")

    port = free_port()
    log = (tmp / "timescaledb.log").open("w+")
    process = subprocess.Popen(
        [node, "server.mjs", str(port)], cwd=TIMESCALEDB_DIR, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_for_line(process, log, f"ready {port}", timeout=60)
        yield Tier(
            "timescaledb", f"postgresql://test:test@127.0.0.1:{port}/postgres?sslmode=disable"
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_for_line(
    process: subprocess.Popen[bytes], log: object, line: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    path = Path(log.name)  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        if line in path.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"the TimescaleDB test server exited early:\n{path.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"the TimescaleDB test server did not start in {timeout} s:\n{path.read_text()}")


@pytest.fixture(scope="session")
def session_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="clevagent-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _tier(name: str, session_tmp: Path) -> Iterator[Tier]:
    starters = {
        "embedded": lambda: _start_embedded(session_tmp),
        "postgres": _start_postgres,
        "timescaledb": lambda: _start_timescaledb(session_tmp),
    }
    for tier in starters[name]():
        try:
            yield tier
        finally:
            tier.drop_all()


@pytest.fixture(scope="session", params=TIERS)
def tier(request: pytest.FixtureRequest, session_tmp: Path) -> Iterator[Tier]:
    """Each database tier in turn."""
    yield from _tier(request.param, session_tmp)


@pytest.fixture(scope="session")
def postgres_tier(session_tmp: Path) -> Iterator[Tier]:
    """The PostgreSQL server tier alone, for tests whose subject is not the database."""
    yield from _tier("postgres", session_tmp)


@pytest.fixture
def database_url(tier: Tier) -> str:
    """A fresh, migrated database on each tier."""
    url = tier.new_database()
    migrate(url)
    return url


@pytest.fixture
def pg_database_url(postgres_tier: Tier) -> str:
    """A fresh, migrated database on the PostgreSQL server tier."""
    url = postgres_tier.new_database()
    migrate(url)
    return url


@pytest.fixture
def server(pg_database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server on the PostgreSQL server tier."""
    running = start_server(pg_database_url, tmp_path)
    yield running
    running.stop()


@pytest.fixture
def tier_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server on each database tier."""
    running = start_server(database_url, tmp_path)
    yield running
    running.stop()
