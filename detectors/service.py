"""The detector loop: one leader runs a cycle every few seconds until asked to stop.

`clevagent serve` runs it in a thread beside the API, and `clevagent detect` runs it in
a process of its own. Any number of them may run against one database: the one holding
the leader advisory lock runs cycles, and the others retry the lock every cycle.
"""

import logging
import threading
import time

import psycopg

from clevagent_server.db.database import DatabaseUnavailable, connect
from clevagent_server.detectors.cycle import LEADER_LOCK_KEY, run_cycle
from clevagent_server.detectors.settings import DetectorSettings
from clevagent_server.detectors.store import execute

logger = logging.getLogger(__name__)


def run(
    database_url: str,
    stop: threading.Event,
    cycle_seconds: float = 10.0,
    settings: DetectorSettings | None = None,
) -> None:
    """Run detector cycles every `cycle_seconds` until `stop` is set.

    `settings` defaults to the production limits for that cycle length. Blocks the
    calling thread. A database error is logged and the cycle retried next period, on
    fresh connections; nothing here raises after start-up.
    """
    if cycle_seconds <= 0:
        raise ValueError(f"cycle_seconds must be positive, got {cycle_seconds!r}")
    loop = _DetectorLoop(database_url, settings or DetectorSettings.for_cycle(cycle_seconds))
    logger.info("detector started, one cycle every %.1f s", cycle_seconds)
    try:
        while not stop.is_set():
            started = time.monotonic()
            loop.step()
            stop.wait(max(0.0, cycle_seconds - (time.monotonic() - started)))
    finally:
        loop.close()
    logger.info("detector stopped")


class _DetectorLoop:
    """The connections of one detector loop: the leader lock's and the cycle's own."""

    def __init__(self, database_url: str, settings: DetectorSettings) -> None:
        self._url = database_url
        self._settings = settings
        self._lock_conn: psycopg.Connection | None = None
        self._work_conn: psycopg.Connection | None = None
        self.leading = False

    def step(self) -> None:
        """Run one cycle if this loop leads; on a database error, start over next time."""
        try:
            if self._lead():
                self._run_cycle()
        except (psycopg.Error, DatabaseUnavailable) as error:
            logger.error("detector could not reach the database: %s; retrying next cycle", error)
            self.close()

    def close(self) -> None:
        if self.leading:
            logger.info("detector gives up leadership")
        self.leading = False
        for conn in (self._lock_conn, self._work_conn):
            if conn is not None:
                conn.close()
        self._lock_conn = self._work_conn = None

    def _lead(self) -> bool:
        """Return True if this loop holds the leader lock, trying to take it if not.

        The lock lives as long as its connection, so a leader checks that connection
        every cycle: if it died, the lock is gone and another loop may lead already.
        """
        if self._lock_conn is None:
            self._lock_conn = connect(self._url, autocommit=True)
        if self.leading:
            self._lock_conn.execute("SELECT 1")
            return True

        row = execute(self._lock_conn, "try_leader_lock", {"key": LEADER_LOCK_KEY}).fetchone()
        self.leading = bool(row and row[0])
        if self.leading:
            logger.info("detector is the leader and runs the cycles")
        return self.leading

    def _run_cycle(self) -> None:
        if self._work_conn is None:
            self._work_conn = connect(self._url, autocommit=True)
        result = run_cycle(self._work_conn, settings=self._settings)
        if result.error is not None and (self._work_conn.closed or self._work_conn.broken):
            self._work_conn.close()
            self._work_conn = None
        elif result.ran:
            logger.debug(
                "detector cycle: %d agents, %d events, %d commands in %.3f s",
                result.agents_checked,
                result.events_written,
                result.commands_queued,
                result.duration_seconds,
            )
