"""The heartbeat write path, with group commit.

Requests hand their rows to one HeartbeatWriter per process. Whatever arrives while
earlier flushes are still in flight is written together: one transaction with one INSERT
per plan table and one UPDATE of the agents, whatever the number of rows. A request is
acknowledged only after the transaction holding its rows committed.
"""

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg

from clevagent_server.db import queries
from clevagent_server.db.database import DatabaseUnavailable
from clevagent_server.ingest.state import IngestState

logger = logging.getLogger(__name__)

# A request that has not been committed after this long gets a 503. Its rows may still
# commit later, and the client's retry is then recognised by its sequence number.
WRITE_TIMEOUT_SECONDS = 8.0
MAX_ROWS_PER_FLUSH = 5000
MAX_CONCURRENT_FLUSHES = 4


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
    agent_id: int
    status: str
    warning: dict[str, Any] | None
    duplicate: bool


_INSERT_COLUMNS = [
    f.name
    for f in fields(HeartbeatRow)
    if f.name
    not in {
        "heartbeats_table",
        "agent_type",
        "busy_seconds",
        "busy_reason",
        "restart_type",
        "restart_target",
    }
]
_AGENT_COLUMNS = [
    "agent_id",
    "time",
    "status",
    "message",
    "iteration_count",
    "busy_seconds",
    "busy_reason",
    "agent_type",
    "restart_type",
    "restart_target",
]


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

    async def write(self, rows: list[HeartbeatRow]) -> list[RowOutcome]:
        """Store rows and return one outcome per row, in order, once they are committed.

        Raises DatabaseUnavailable when the database fails or stalls.
        """
        future: asyncio.Future[list[RowOutcome]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(rows, future))
        self._wakeup.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), WRITE_TIMEOUT_SECONDS)
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
        except psycopg.Error:
            # A statement failed on data: retry job by job so one bad request cannot sink
            # the others that happened to share its transaction.
            logger.exception(
                "group write of %d requests failed; retrying them one by one", len(jobs)
            )
            for job in jobs:
                await self._flush_alone(job)
        finally:
            self._slots.release()

    async def _flush_alone(self, job: _Job) -> None:
        try:
            await self._flush_together([job])
        except (DatabaseUnavailable, psycopg.Error) as error:
            logger.exception("write of %d heartbeats failed", len(job.rows))
            _fail([job], error)

    async def _flush_together(self, jobs: list[_Job]) -> None:
        rows = [row for job in jobs for row in job.rows]
        async with self._state.connection() as conn, conn.transaction():
            duplicates = await _mark_duplicates(conn, rows)
            await _insert(conn, [row for row, dup in zip(rows, duplicates, strict=True) if not dup])
            agents = await _update_agents(conn, rows)

        outcomes = [
            RowOutcome(row.agent_id, agents[row.agent_id][0], agents[row.agent_id][1], dup)
            for row, dup in zip(rows, duplicates, strict=True)
        ]
        start = 0
        for job in jobs:
            end = start + len(job.rows)
            if not job.future.done():
                job.future.set_result(outcomes[start:end])
            start = end


def _fail(jobs: Sequence[_Job], error: Exception) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(
                error if isinstance(error, DatabaseUnavailable) else DatabaseUnavailable(str(error))
            )


async def _mark_duplicates(conn: psycopg.AsyncConnection, rows: list[HeartbeatRow]) -> list[bool]:
    """Return, per row, whether its (instance_id, seq) was stored before; record new maxima."""
    keyed = [(row.agent_id, row.instance_id, row.seq) for row in rows]
    keys = sorted({(a, i) for a, i, s in keyed if i is not None and s is not None})
    if not keys:
        return [False] * len(rows)

    cursor = await conn.execute(
        queries.load("ingest/lock_instances"),
        {"agent_id": [k[0] for k in keys], "instance_id": [k[1] for k in keys]},
    )
    highest: dict[tuple[int, str], int] = {(a, i): s for a, i, s in await cursor.fetchall()}

    duplicates = []
    for agent_id, instance_id, seq in keyed:
        if instance_id is None or seq is None:
            duplicates.append(False)
            continue
        seen = highest.get((agent_id, instance_id))
        duplicates.append(seen is not None and seq <= seen)
        highest[(agent_id, instance_id)] = max(seq, seen if seen is not None else seq)

    await conn.execute(
        queries.load("ingest/store_instances"),
        {
            "agent_id": [k[0] for k in keys],
            "instance_id": [k[1] for k in keys],
            "last_seq": [highest[k] for k in keys],
        },
    )
    return duplicates


async def _insert(conn: psycopg.AsyncConnection, rows: list[HeartbeatRow]) -> None:
    by_table: dict[str, list[HeartbeatRow]] = {}
    for row in rows:
        by_table.setdefault(row.heartbeats_table, []).append(row)
    for table, table_rows in by_table.items():
        await conn.execute(
            queries.for_table("ingest/insert_heartbeats", table), _columns(table_rows)
        )


def _columns(rows: list[HeartbeatRow]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in _INSERT_COLUMNS}
    for row in rows:
        for name in _INSERT_COLUMNS:
            columns[name].append(getattr(row, name))
    columns["usage"] = [json.dumps(u) if u is not None else None for u in columns["usage"]]
    columns["fingerprints"] = [",".join(f) if f else None for f in columns["fingerprints"]]
    return columns


async def _update_agents(
    conn: psycopg.AsyncConnection, rows: list[HeartbeatRow]
) -> dict[int, tuple[str, dict[str, Any] | None]]:
    # The latest row of each agent wins. The statement locks the agents in id order.
    latest = {row.agent_id: row for row in rows}
    ordered = [latest[agent_id] for agent_id in sorted(latest)]
    params = {name: [] for name in _AGENT_COLUMNS}  # type: dict[str, list[Any]]
    for row in ordered:
        for name in _AGENT_COLUMNS:
            params[name].append(getattr(row, name))
    cursor = await conn.execute(queries.load("ingest/update_agents"), params)
    return {agent_id: (status, warning) for agent_id, status, warning in await cursor.fetchall()}
