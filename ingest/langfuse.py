"""POST /api/v1/webhooks/langfuse: error traces from Langfuse, turned into events and restarts.

Every delivery is stored in langfuse_deliveries. A delivery whose status is "error" (in
any letter case, as Langfuse writes levels in capitals) also writes a langfuse_error
event, and when the agent has auto_restart it queues a restart command with a
restart_queued event. While a restart of that agent is pending or delivered, further
errors reuse it instead of queueing another, so an error storm cannot flood the runner.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from clevagent_server.db import queries
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.models import MAX_MESSAGE_CHARS, AgentName, Text
from clevagent_server.ingest.state import IngestState
from clevagent_server.ingest.text import truncate

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


class LangfuseDelivery(BaseModel):
    """The webhook body. Unknown extra fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    agent_name: AgentName
    status: Annotated[Text, Field(min_length=1, max_length=32)]
    message: Text | None = None
    trace_id: Annotated[Text, Field(min_length=1, max_length=200)] | None = None

    def is_error(self) -> bool:
        return bool(self.status.lower() == "error")


class LangfuseResponse(BaseModel):
    """restart_queued is true when this delivery queued a new restart command."""

    received: bool
    agent_id: int
    event_id: int | None
    restart_queued: bool
    restart_command_id: int | None


def agent_not_found(name: str) -> str:
    return (
        f"Agent {name!r} not found in this project. An agent is created by its first "
        "heartbeat, or by `clevagent agent register PROJECT AGENT`."
    )


@router.post("/webhooks/langfuse", response_model=LangfuseResponse)
async def receive_langfuse(
    delivery: LangfuseDelivery,
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
) -> dict[str, Any]:
    """Record a Langfuse trace status; an error may queue a restart of the agent."""
    state: IngestState = request.app.state.ingest
    message = truncate(delivery.message, MAX_MESSAGE_CHARS)[0] if delivery.message else None

    async with state.connection() as conn, conn.transaction():
        agent = await _lock_agent(conn, project.id, delivery.agent_name)
        if agent is None:
            raise HTTPException(404, agent_not_found(delivery.agent_name))
        agent_id, auto_restart, restart_type, restart_target = agent

        event_id = command_id = None
        queued = False
        if delivery.is_error():
            event_id = await _insert_error_event(conn, project.id, agent_id, delivery, message)
        if delivery.is_error() and auto_restart:
            command_id, queued = await _queue_restart(
                conn, project.id, agent_id, delivery, restart_type, restart_target
            )
        await _insert_delivery(conn, project.id, agent_id, delivery, message, event_id, command_id)

    logger.info(
        "langfuse %s for agent %s of project %s: event %s, restart command %s",
        delivery.status,
        agent_id,
        project.id,
        event_id,
        command_id,
    )
    return {
        "received": True,
        "agent_id": agent_id,
        "event_id": event_id,
        "restart_queued": queued,
        "restart_command_id": command_id,
    }


async def _lock_agent(
    conn: AsyncConnection[Any], project_id: int, name: str
) -> tuple[int, bool, str | None, str | None] | None:
    cursor = await conn.execute(
        queries.load("telemetry/lock_agent_by_name"), {"project_id": project_id, "name": name}
    )
    return await cursor.fetchone()


async def _insert_error_event(
    conn: AsyncConnection[Any],
    project_id: int,
    agent_id: int,
    delivery: LangfuseDelivery,
    message: str | None,
) -> int:
    details = Jsonb({"trace_id": delivery.trace_id, "message": message})
    cursor = await conn.execute(
        queries.load("telemetry/insert_langfuse_error_event"),
        {"project_id": project_id, "agent_id": agent_id, "message": message, "details": details},
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _queue_restart(
    conn: AsyncConnection[Any],
    project_id: int,
    agent_id: int,
    delivery: LangfuseDelivery,
    restart_type: str | None,
    restart_target: str | None,
) -> tuple[int, bool]:
    """Return the id of the agent's pending restart and whether this call queued it."""
    cursor = await conn.execute(
        queries.load("telemetry/pending_restart_command"), {"agent_id": agent_id}
    )
    pending = await cursor.fetchone()
    if pending is not None:
        return int(pending[0]), False

    reason = "Langfuse reported an error trace"
    if delivery.trace_id:
        reason += f" ({delivery.trace_id})"
    cursor = await conn.execute(
        queries.load("telemetry/queue_restart_command"),
        {
            "project_id": project_id,
            "agent_id": agent_id,
            "type": restart_type,
            "target": restart_target,
            "reason": reason,
            "details": Jsonb(
                {
                    "reason": "langfuse_error",
                    "trace_id": delivery.trace_id,
                    "type": restart_type,
                    "target": restart_target,
                }
            ),
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), True


async def _insert_delivery(
    conn: AsyncConnection[Any],
    project_id: int,
    agent_id: int,
    delivery: LangfuseDelivery,
    message: str | None,
    event_id: int | None,
    command_id: int | None,
) -> None:
    await conn.execute(
        queries.load("telemetry/insert_langfuse_delivery"),
        {
            "project_id": project_id,
            "agent_id": agent_id,
            "status": delivery.status,
            "trace_id": delivery.trace_id,
            "message": message,
            "event_id": event_id,
            "command_id": command_id,
        },
    )
