"""The detector loop: it runs cycles until stopped, and only its leader does."""

import threading
import time

import psycopg
import pytest

from clevagent_server.detectors import service
from clevagent_server.detectors.cycle import LEADER_LOCK_KEY


def count_runs(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM detector_runs").fetchone()
    return int(row[0]) if row else 0


def wait_for_runs(database_url: str, at_least: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = count_runs(database_url)
        if runs >= at_least:
            return runs
        time.sleep(0.1)
    return count_runs(database_url)


def start(database_url: str) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(database_url, stop, 0.2), daemon=True)
    thread.start()
    return thread, stop


def test_service_runs_cycles_until_stopped(database_url: str) -> None:
    thread, stop = start(database_url)
    try:
        assert wait_for_runs(database_url, 3) >= 3
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_follower_waits_for_leader(pg_database_url: str) -> None:
    with psycopg.connect(pg_database_url, autocommit=True) as leader:
        leader.execute("SELECT pg_advisory_lock(%s)", (LEADER_LOCK_KEY,))
        thread, stop = start(pg_database_url)
        try:
            # Several cycle periods pass with the lock taken: the follower runs none.
            time.sleep(1.0)
            assert count_runs(pg_database_url) == 0
            leader.execute("SELECT pg_advisory_unlock(%s)", (LEADER_LOCK_KEY,))
            assert wait_for_runs(pg_database_url, 1) >= 1
        finally:
            stop.set()
            thread.join(timeout=10)


def test_service_rejects_bad_period() -> None:
    with pytest.raises(ValueError, match="cycle_seconds must be positive"):
        service.run("postgresql://unused", threading.Event(), 0)
