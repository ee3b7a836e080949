"""`clevagent serve` with no database URL: the embedded PostgreSQL, shared with the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CLEVAGENT_DATABASE_URL"}
    env["CLEVAGENT_DATA_DIR"] = str(data_dir)
    return env


def cli(env: dict[str, str], *args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "clevagent_server", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def postgres_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_runs_on_embedded_postgres(tmp_path):
    env = embedded_env(tmp_path / "data")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "clevagent_server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        cli(env, "project", "create", "local")
        key = cli(env, "key", "create", "local")["key"]
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/heartbeat",
            json={"agent": "embedded-agent"},
            headers={"X-API-Key": key},
        )
        agents = cli(env, "agent", "list", "local")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    assert response.status_code == 200
    assert [a["name"] for a in agents] == ["embedded-agent"]
    assert server.returncode == 0
    assert not postgres_running(tmp_path / "data")


def test_db_psql_opens_the_embedded_database(tmp_path):
    env = embedded_env(tmp_path / "data")
    subprocess.run(
        [sys.executable, "-m", "clevagent_server", "db", "migrate"],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    cli(env, "project", "create", "seen-by-psql")

    result = subprocess.run(
        [sys.executable, "-m", "clevagent_server", "db", "psql"],
        input="SELECT name FROM projects;\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "seen-by-psql" in result.stdout
    assert not postgres_running(tmp_path / "data")


def test_db_psql_without_psql_is_one_line(tmp_path, pg_database_url):
    env = {**embedded_env(tmp_path / "data"), "PATH": str(tmp_path / "empty")}

    result = subprocess.run(
        [sys.executable, "-m", "clevagent_server", "db", "psql", "--database-url", pg_database_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: psql not found: install the PostgreSQL client (Debian: apt-get install "
        "postgresql-client)"
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_db_psql_ended_by_signal_stops_embedded(tmp_path, signum):
    env = embedded_env(tmp_path / "data")
    session = subprocess.Popen(
        [sys.executable, "-m", "clevagent_server", "db", "psql"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while not postgres_running(tmp_path / "data") and time.monotonic() < deadline:
            time.sleep(0.2)
        # psql is connected once it waits on its open stdin; give it a moment to start.
        time.sleep(1)
        session.send_signal(signum)
        session.wait(60)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
        session.stdin.close()

    assert not postgres_running(tmp_path / "data")
