"""The runner commands protocol: GET /api/v1/commands and POST /api/v1/commands/{id}/result.

Detectors (and the Langfuse webhook) queue rows in restart_commands; a runner polls for
them, executes them and reports back. A command moves pending -> delivered -> completed,
failed or rejected, and a finished command takes no second result.

Delivery is at least once: a command with no result COMMAND_LEASE_SECONDS after its
delivery is delivered again, so a runner that died between its poll and its report does
not lose it. After MAX_COMMAND_DELIVERIES deliveries without a result, the command fails.
"""

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from clevagent_server.db import queries
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.models import Text
from clevagent_server.ingest.state import IngestState
from clevagent_server.ingest.text import truncate

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["runner"])

# At most this many commands per poll; the rest wait for the next one.
MAX_COMMANDS_PER_POLL = 100
COMMAND_LEASE_SECONDS = 300
MAX_COMMAND_DELIVERIES = 3
MAX_RESULT_CHARS = 2000


class Command(BaseModel):
    """One queued command, as a runner receives it."""

    id: int
    action: Literal["restart", "stop"]
    type: str | None
    target: str | None
    agent: str | None
    reason: str


class CommandResult(BaseModel):
    """What a runner reports after executing (or declining) a command."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["completed", "failed", "rejected"]
    message: Text = ""


class CommandResultResponse(BaseModel):
    id: int
    status: str


@router.get("/commands", response_model=list[Command])
async def get_commands(
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
    agent: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> list[dict[str, Any]]:
    """Return the project's due commands, oldest first, and mark them delivered.

    Due are pending commands and those delivered COMMAND_LEASE_SECONDS ago or earlier
    that still have no result.

    With one or more `agent` parameters, only those agents' commands (and commands that
    name no agent) are delivered, so runners that share a project each receive their own.
    """
    state: IngestState = request.app.state.ingest
    params = {
        "project_id": project.id,
        "agents": agent or None,
        "limit": MAX_COMMANDS_PER_POLL,
        "lease_seconds": COMMAND_LEASE_SECONDS,
        "max_deliveries": MAX_COMMAND_DELIVERIES,
    }
    async with state.connection() as conn:
        cursor = await conn.execute(queries.load("runner/deliver_commands"), params)
        rows = await cursor.fetchall()

    commands = sorted(
        (
            dict(zip(("id", "action", "type", "target", "agent", "reason"), row, strict=True))
            for row in rows
        ),
        key=lambda command: command["id"],
    )
    if commands:
        logger.info(
            "project=%d: delivered commands %s",
            project.id,
            ",".join(str(c["id"]) for c in commands),
        )
    return commands


@router.post("/commands/{command_id}/result", response_model=CommandResultResponse)
async def post_command_result(
    result: CommandResult,
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
    command_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> dict[str, Any]:
    """Store a runner's result; 404 for an unknown command, 409 for one already finished."""
    state: IngestState = request.app.state.ingest
    message, _ = truncate(result.message, MAX_RESULT_CHARS)
    params = {
        "id": command_id,
        "project_id": project.id,
        "status": result.status,
        "message": message,
    }
    existing = None
    async with state.connection() as conn, conn.transaction():
        cursor = await conn.execute(queries.load("runner/store_command_result"), params)
        stored = await cursor.fetchone()
        if stored is None:
            cursor = await conn.execute(queries.load("runner/command_status"), params)
            existing = await cursor.fetchone()

    if stored is None and existing is None:
        raise HTTPException(404, f"Command {command_id} not found")
    if stored is None:
        raise HTTPException(409, f"Command {command_id} already has a result ({existing[0]})")
    logger.info(
        "project=%d command=%d: runner reported %s: %s",
        project.id,
        command_id,
        result.status,
        message[:200],
    )
    return {"id": command_id, "status": result.status}
