"""The heartbeat write path, with group commit.

Requests hand their rows to one HeartbeatWriter per process. Whatever arrives while
earlier flushes are still in flight is written together, in one statement and so one
transaction, whatever the number of rows. A request is acknowledged only after the
transaction holding its rows committed.
"""

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from clevagent_server.db import queries
from clevagent_server.db.database import DatabaseUnavailable
from clevagent_server.ingest.state import IngestState

logger = logging.getLogger(__name__)

# A request that has not been committed after this long gets a 503. Its rows may still
# commit later, and the client's retry is then recognised by its sequence number.
WRITE_TIMEOUT_SECONDS = 8.0
MAX_ROWS_PER_FLUSH = 5000
MAX_CONCURRENT_FLUSHES = 2

# Errors caused by the rows' values (SQLSTATE classes 22 and 23, or values the statement's
# parameters cannot carry): retrying cannot help, so only the rows that cause them fail.
DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError, ValueError, TypeError)


@dataclass
class HeartbeatRow:
    """One heartbeat as stored, plus the fields that only update the agent."""

    time: datetime
    project_id: int
    agent_id: int
    heartbeats_table: str
    client_time: datetime | None
    status: str
    message: str | None
    message_truncated: bool
    tokens_used: int | None
    cost_usd: float | None
    cost_source: str | None
    tool_calls: int | None
    iteration_count: int | None
    memory_mb: float | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    llm_calls: int | None
    unpriced_calls: int | None
    unknown_usage_calls: int | None
    usage: list[dict[str, Any]] | None
    fingerprints: list[str] | None
    instance_id: str | None
    seq: int | None
    source: str
    agent_type: str | None
    busy_seconds: float | None
    busy_reason: str | None
    restart_type: str | None
    restart_target: str | None


@dataclass(frozen=True)
class RowOutcome:
    """The result of storing one row.

    `rejection` is set, and nothing of the row stored, when the database refused its values.
    """

    agent_id: int
    status: str
    warning: dict[str, Any] | None
    duplicate: bool
    rejection: str | None = None


@dataclass
class _Job:
    rows: list[HeartbeatRow]
    future: asyncio.Future[list[RowOutcome]]


class HeartbeatWriter:
    def __init__(self, state: IngestState) -> None:
        self._state = state
        self._pending: list[_Job] = []
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_FLUSHES)
        self._tasks: set[asyncio.Task[None]] = set()
        self._write_statements: dict[tuple[str, ...], bytes] = {}

    async def write(self, rows: list[HeartbeatRow]) -> list[RowOutcome]:
        """Store rows and return one outcome per row, in order, once they are committed.

        Raises DatabaseUnavailable when the database fails or stalls.
        """
        future: asyncio.Future[list[RowOutcome]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(rows, future))
        self._wakeup.set()
        try:
            # On timeout the future is cancelled, and a flush that already took the job skips it.
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                return await future
        except TimeoutError as error:
            raise DatabaseUnavailable("the database did not commit in time") from error

    async def run(self) -> None:
        """Start flushes while work is pending; runs until cancelled."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._slots.acquire()
                jobs = self._take_jobs()
                task = asyncio.create_task(self._flush(jobs))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _take_jobs(self) -> list[_Job]:
        taken: list[_Job] = []
        count = 0
        while self._pending and (
            not taken or count + len(self._pending[0].rows) <= MAX_ROWS_PER_FLUSH
        ):
            job = self._pending.pop(0)
            taken.append(job)
            count += len(job.rows)
        return taken

    async def _flush(self, jobs: list[_Job]) -> None:
        try:
            await self._flush_together(jobs)
        except DatabaseUnavailable as error:
            _fail(jobs, error)
        except DATA_ERRORS as error:
            if len(jobs) == 1:
                await self._flush_rows(jobs[0], error)
                return
            # Retry job by job, so that one bad request cannot sink the others that
            # happened to share its transaction.
            logger.warning(
                "group write of %d requests failed on their data (%s); retrying them one by one",
                len(jobs),
                error,
            )
            for job in jobs:
                await self._flush_alone(job)
        except Exception as error:
            # Fail the requests now on any other error, so that they do not wait for their timeout.
            logger.exception("write of %d requests failed", len(jobs))
            _fail(jobs, error)
        finally:
            self._slots.release()

    async def _flush_alone(self, job: _Job) -> None:
        """Store one job's rows together or, if their data fails that, row by row."""
        try:
            await self._flush_together([job])
        except DATA_ERRORS as error:
            await self._flush_rows(job, error)
        except (DatabaseUnavailable, psycopg.Error) as error:
            logger.exception("write of %d heartbeats failed", len(job.rows))
            _fail([job], error)

    async def _flush_rows(self, job: _Job, error: Exception) -> None:
        """Store a job row by row after its rows failed together with error, a data error."""
        try:
            if len(job.rows) == 1:
                outcomes = [_rejected(job.rows[0], error)]
            else:
                outcomes = [await self._store_or_reject(row) for row in job.rows]
        except (DatabaseUnavailable, psycopg.Error) as failure:
            logger.exception("write of %d heartbeats failed", len(job.rows))
            _fail([job], failure)
            return
        if not job.future.done():
            job.future.set_result(outcomes)

    async def _store_or_reject(self, row: HeartbeatRow) -> RowOutcome:
        try:
            [outcome] = await self._store([row])
        except DATA_ERRORS as error:
            return _rejected(row, error)
        return outcome

    async def _flush_together(self, jobs: list[_Job]) -> None:
        outcomes = await self._store([row for job in jobs for row in job.rows])
        start = 0
        for job in jobs:
            end = start + len(job.rows)
            if not job.future.done():
                job.future.set_result(outcomes[start:end])
            start = end

    async def _store(self, rows: list[HeartbeatRow]) -> list[RowOutcome]:
        """Write rows in one statement and return their outcomes, in order."""
        async with self._state.connection() as conn:
            statement = self._statement(conn, rows)
            # One statement on an autocommit connection is one implicit transaction.
            cursor = await conn.execute(statement, _parameters(rows))
            results = await cursor.fetchall()
        return [
            RowOutcome(row.agent_id, status or "unknown", warning, bool(duplicate))
            for row, (_, duplicate, status, warning) in zip(rows, results, strict=True)
        ]

    def _statement(self, conn: psycopg.AsyncConnection, rows: list[HeartbeatRow]) -> bytes:
        """Return the write statement with one INSERT for each plan table the rows use.

        A group nearly always uses one table, and an INSERT into a table with no rows
        still costs the database its set-up, so the statement names only those needed.
        Each variant is rendered to bytes once, sparing psycopg the composition per flush.
        """
        tables = tuple(sorted({row.heartbeats_table for row in rows}))
        statement = self._write_statements.get(tables)
        if statement is None:
            statement = self._write_statements[tables] = write_statement(tables).as_bytes(conn)
        return statement


def write_statement(tables: tuple[str, ...]) -> sql.Composed:
    inserts = [
        sql.SQL(queries.load("ingest/insert_heartbeats_cte")).format(  # type: ignore[arg-type]
            name=sql.Identifier(f"insert_{index}"),
            table=sql.Identifier(table),
            table_name=sql.Literal(table),
        )
        for index, table in enumerate(tables)
    ]
    template = sql.SQL(queries.load("ingest/write_heartbeats"))  # type: ignore[arg-type]
    return template.format(inserts=sql.SQL(",\n").join(inserts))


def _rejected(row: HeartbeatRow, error: Exception) -> RowOutcome:
    """Return the outcome of a row the database refused, logging why.

    The client learns only the SQLSTATE: the database's message names internal tables
    and constraints, and its detail repeats the row.
    """
    if isinstance(error, psycopg.Error):
        primary = error.diag.message_primary or type(error).__name__
        reason = f"a value was refused (SQLSTATE {error.sqlstate})"
    else:
        primary = reason = f"a value cannot be stored ({type(error).__name__})"
    logger.warning("heartbeat of agent %d rejected by the database: %s", row.agent_id, primary)
    return RowOutcome(row.agent_id, "unknown", None, False, rejection=reason)


def _fail(jobs: Sequence[_Job], error: Exception) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(
                error if isinstance(error, DatabaseUnavailable) else DatabaseUnavailable(str(error))
            )


def _parameters(rows: list[HeartbeatRow]) -> dict[str, Any]:
    """Return the rows as one JSON array for write_heartbeats.sql, and their agents' ids.

    Each row is an object of its non-NULL columns plus its position, `ord`.
    """
    documents = []
    for position, row in enumerate(rows):
        document = {name: value for name, value in vars(row).items() if value is not None}
        document["ord"] = position
        documents.append(document)
    encoded = json.dumps(
        documents,
        default=_encode_datetime,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    return {"rows": encoded, "agent_ids": [row.agent_id for row in rows]}


def _encode_datetime(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in a heartbeat row")
