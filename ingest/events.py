"""POST /api/v1/events: restart events that runners report, stored in agent_events.

The Grafana runner dashboard and the restart-storm alert read these rows. Only the runner's
event types are accepted, so a client cannot forge the detectors' own events (dead, loop).
"""

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from clevagent_server.db import queries
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.heartbeats import strict_mode_detail
from clevagent_server.ingest.models import AgentName, Text
from clevagent_server.ingest.state import IngestState
from clevagent_server.ingest.text import truncate

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["runner"])

MAX_EVENTS = 100
MAX_TEXT_CHARS = 2000
# A client time inside this window around the server's time is stored, so events queued
# by a runner during an outage keep the time they happened. Any other time is replaced
# by the server's receive time.
MAX_EVENT_AGE = timedelta(days=7)
MAX_CLOCK_SKEW = timedelta(minutes=5)

RunnerEventType = Literal[
    "restart_attempt",
    "restart_succeeded",
    "restart_failed",
    "crash_loop",
    "gave_up",
    "budget_stop",
    "stopped",
    "hold_released",
]
DEFAULT_SEVERITY = {
    "restart_failed": "warning",
    "budget_stop": "warning",
    "crash_loop": "critical",
    "gave_up": "critical",
}
ShortText = Text


class EventDetails(BaseModel):
    """The runner's account of one restart, stored as the event's details."""

    model_config = ConfigDict(extra="ignore")

    reason: ShortText | None = None
    exit_code: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    attempt: Annotated[int, Field(ge=0, le=10**9)] | None = None
    target: Annotated[Text, Field(max_length=500)] | None = None
    type: Literal["docker", "systemd", "launchd", "process", "k8s"] | None = None


class RunnerEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent: AgentName
    type: RunnerEventType
    severity: Literal["info", "warning", "critical"] | None = None
    message: ShortText | None = None
    time: datetime | None = None
    details: EventDetails = Field(default_factory=EventDetails)


class EventBatch(BaseModel):
    events: Annotated[list[RunnerEvent], Field(min_length=1, max_length=MAX_EVENTS)]


class EventResult(BaseModel):
    index: int
    received: bool
    id: int | None = None
    error: dict[str, Any] | None = None


class EventBatchResponse(BaseModel):
    received: int
    results: list[EventResult]


class StoredEvent(BaseModel):
    id: int
    time: datetime
    agent: str
    type: str
    severity: str
    message: str | None
    details: dict[str, Any] | None


def event_time(sent: datetime | None, now: datetime) -> datetime:
    """Return the client's time if it is plausible, else the server's."""
    if sent is None or sent.tzinfo is None:
        return now
    if now - MAX_EVENT_AGE <= sent <= now + MAX_CLOCK_SKEW:
        return sent
    return now


def event_row(event: RunnerEvent, agent_id: int, project: Project, now: datetime) -> dict[str, Any]:
    details = event.details.model_dump()
    if details["reason"] is not None:
        details["reason"] = truncate(details["reason"], MAX_TEXT_CHARS)[0]
    message = truncate(event.message, MAX_TEXT_CHARS)[0] if event.message else details["reason"]
    return {
        "time": event_time(event.time, now),
        "project_id": project.id,
        "agent_id": agent_id,
        "type": event.type,
        "severity": event.severity or DEFAULT_SEVERITY.get(event.type, "info"),
        "message": message,
        "details": json.dumps({**details, "source": "runner"}),
    }


@router.post("/events", response_model=EventBatchResponse)
async def post_events(
    batch: EventBatch, request: Request, project: Annotated[Project, Depends(authenticate)]
) -> dict[str, Any]:
    """Store up to 100 runner events; each gets its own result, in order.

    Agents are created on first sight as heartbeats create them, unless the project is in
    strict mode, where an event of an unregistered agent is rejected with 403 alone.
    """
    state: IngestState = request.app.state.ingest
    now = datetime.now(UTC)
    names: dict[str, str | None] = {event.agent: None for event in batch.events}
    agents = await state.agents.resolve(state, project, names)

    results: dict[int, dict[str, Any]] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    for index, event in enumerate(batch.events):
        agent = agents.get(event.agent)
        if agent is None:
            error = {"status_code": 403, "detail": strict_mode_detail(event.agent, project)}
            results[index] = {"index": index, "received": False, "error": error}
        else:
            rows.append((index, event_row(event, agent.id, project, now)))

    if rows:
        ids = await insert_rows(state, [row for _, row in rows])
        for (index, row), event_id in zip(rows, ids, strict=True):
            results[index] = {"index": index, "received": True, "id": event_id}
            logger.info(
                "project=%d agent_id=%d event=%d: %s",
                project.id,
                row["agent_id"],
                event_id,
                row["type"],
            )

    return {"received": len(rows), "results": [results[i] for i in range(len(batch.events))]}


async def insert_rows(state: IngestState, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows in one statement; return their ids in input order."""
    columns = ("time", "project_id", "agent_id", "type", "severity", "message", "details")
    params = {column: [row[column] for row in rows] for column in columns}
    async with state.connection() as conn, conn.transaction():
        cursor = await conn.execute(queries.load("runner/insert_events"), params)
        # bigserial ids grow in insertion order, and the insert follows input order.
        return sorted(row[0] for row in await cursor.fetchall())


@router.get("/events", response_model=list[StoredEvent])
async def get_events(
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
    agent: Annotated[str | None, Query(max_length=128)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Return the project's runner events, newest first, optionally of one agent or type."""
    state: IngestState = request.app.state.ingest
    params = {"project_id": project.id, "agent": agent, "type": type, "limit": limit}
    async with state.connection() as conn:
        cursor = await conn.execute(queries.load("runner/list_events"), params)
        columns = [column.name for column in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in await cursor.fetchall()]
