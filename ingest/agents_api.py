"""Per-agent settings: GET /api/v1/agents/{id} and PUT /api/agents/{id} (and /api/v1/...).

A PUT changes only the fields its body names. The thresholds are the ones the detectors
read on their next cycle: tool calls per minute, identical messages in a row, the token
spike multiplier, the daily budget and the expected heartbeat interval.
"""

import logging
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from clevagent_server.db import queries
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.state import IngestState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["agents"])

AGENT_NOT_FOUND = "Agent not found"

# Upper bounds keep values inside their column types and away from the absurd.
MAX_THRESHOLD = 1_000_000
MAX_INTERVAL_SECONDS = 7 * 24 * 3600
MAX_BUDGET_USD = 99_999_999

AgentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The agent's id")]


class AgentSettingsUpdate(BaseModel):
    """The settings a PUT may change; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    max_tool_calls_per_minute: int | None = Field(None, ge=1, le=MAX_THRESHOLD)
    max_identical_messages: int | None = Field(None, ge=2, le=MAX_THRESHOLD)
    token_spike_multiplier: float | None = Field(None, gt=1, le=MAX_THRESHOLD, allow_inf_nan=False)
    daily_budget_usd: float | None = Field(
        None,
        ge=0,
        le=MAX_BUDGET_USD,
        allow_inf_nan=False,
        description="Daily cost budget in US dollars; null removes the budget.",
    )
    expected_interval_seconds: int | None = Field(None, ge=1, le=MAX_INTERVAL_SECONDS)
    auto_restart: StrictBool | None = None
    on_loop: Literal["alert_only", "stop"] | None = None
    on_cost_exceeded: Literal["alert_only", "stop"] | None = None
    enabled: StrictBool | None = None


class AgentSettings(BaseModel):
    """An agent's settings and its current status, as the detectors last judged it."""

    id: int
    name: str
    agent_type: str
    enabled: bool
    max_tool_calls_per_minute: int
    max_identical_messages: int
    token_spike_multiplier: float
    daily_budget_usd: float | None
    expected_interval_seconds: int
    auto_restart: bool
    on_loop: str
    on_cost_exceeded: str
    restart_type: str | None
    restart_target: str | None
    status: str
    status_reason: str | None
    warning: dict[str, Any] | None


# Settings that may not be null once set; a null in the body for them is a 422.
_NOT_NULLABLE = tuple(
    name for name in AgentSettingsUpdate.model_fields if name != "daily_budget_usd"
)


@router.get("/api/v1/agents/{agent_id}", response_model=AgentSettings)
async def get_agent(
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
    agent_id: AgentId,
) -> dict[str, Any]:
    """Return an agent's settings; 404 for an unknown agent or another project's."""
    async with _state(request).connection() as conn:
        return await _load(conn, agent_id, project.id)


@router.put("/api/agents/{agent_id}", response_model=AgentSettings)
@router.put("/api/v1/agents/{agent_id}", response_model=AgentSettings)
async def put_agent(
    update: AgentSettingsUpdate,
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
    agent_id: AgentId,
) -> dict[str, Any]:
    """Change the settings named in the body and return all of the agent's settings."""
    changes = update.model_dump(exclude_unset=True)
    _check_not_null(changes)
    _check_interval(changes, project)

    params: dict[str, Any] = {"id": agent_id, "project_id": project.id}
    for name in AgentSettingsUpdate.model_fields:
        params[name] = changes.get(name)
        params[f"set_{name}"] = name in changes

    async with _state(request).connection() as conn, conn.transaction():
        cursor = await conn.execute(queries.load("detectors/agent_settings_update"), params)
        if await cursor.fetchone() is None:
            raise HTTPException(404, AGENT_NOT_FOUND)
        settings = await _load(conn, agent_id, project.id)

    if changes:
        logger.info(
            "project=%d agent=%d: settings changed: %s",
            project.id,
            agent_id,
            ", ".join(sorted(changes)),
        )
    return settings


def _state(request: Request) -> IngestState:
    state: IngestState = request.app.state.ingest
    return state


async def _load(
    conn: psycopg.AsyncConnection[Any], agent_id: int, project_id: int
) -> dict[str, Any]:
    params = {"id": agent_id, "project_id": project_id}
    cursor = await conn.execute(queries.load("detectors/agent_settings_get"), params)
    row = await cursor.fetchone()
    if row is None:
        raise HTTPException(404, AGENT_NOT_FOUND)
    names = [column.name for column in cursor.description]
    return dict(zip(names, row, strict=True))


def _check_not_null(changes: dict[str, Any]) -> None:
    errors = [
        {"loc": ["body", name], "msg": "Input should not be null", "type": "not_null"}
        for name in _NOT_NULLABLE
        if name in changes and changes[name] is None
    ]
    if errors:
        raise HTTPException(422, errors)


def _check_interval(changes: dict[str, Any], project: Project) -> None:
    """Reject an expected interval shorter than the plan lets agents send heartbeats."""
    interval = changes.get("expected_interval_seconds")
    if interval is None or interval >= project.min_interval_seconds:
        return
    message = (
        f"Input should be greater than or equal to {project.min_interval_seconds}, "
        f"the shortest heartbeat interval of the {project.plan} plan"
    )
    raise HTTPException(
        422,
        [
            {
                "loc": ["body", "expected_interval_seconds"],
                "msg": message,
                "type": "greater_than_equal",
            }
        ],
    )
