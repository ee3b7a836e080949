"""POST /api/v1/heartbeat and POST /api/v1/heartbeat/batch."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from clevagent_server.ingest.agents import AgentRef
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.bodies import SCHEMA_REF, DirectRoute, read_body, request_body
from clevagent_server.ingest.errors import validation_detail
from clevagent_server.ingest.models import (
    BatchResponse,
    Heartbeat,
    HeartbeatBatch,
    HeartbeatResponse,
)
from clevagent_server.ingest.pricing import price_usage
from clevagent_server.ingest.state import IngestState
from clevagent_server.ingest.writer import HeartbeatRow, RowOutcome

router = APIRouter(prefix="/api/v1", tags=["heartbeats"], route_class=DirectRoute)

_heartbeat_adapter = TypeAdapter(Heartbeat)

ERROR_MESSAGE_REF = SCHEMA_REF.format(model="ErrorMessage")

# A batch hands the event loop back to other requests after this many items.
YIELD_EVERY_ITEMS = 10


def strict_mode_detail(agent: str, project: Project) -> str:
    return (
        f"Agent {agent!r} is not registered and project {project.name!r} is in strict mode. "
        f"Register it with `clevagent agent register {project.name} {agent}`, "
        "or turn strict mode off."
    )


# The routes below are the hot path, so they are DirectRoutes that read and validate their
# own bodies (see bodies.py).


@router.post(
    "/heartbeat",
    response_model=HeartbeatResponse,
    openapi_extra=request_body(Heartbeat),
    responses={
        403: {
            "description": "The project is in strict mode and the agent is not registered",
            "content": {"application/json": {"schema": {"$ref": ERROR_MESSAGE_REF}}},
        }
    },
)
async def post_heartbeat(request: Request) -> JSONResponse:
    """Store one heartbeat and return the agent's status and any active warning."""
    project = await authenticate(request)
    heartbeat = await read_body(request, Heartbeat)
    state: IngestState = request.app.state.ingest
    received_at = datetime.now(UTC)

    agents = await state.agents.resolve(state, project, {heartbeat.agent: heartbeat.agent_type})
    agent = agents.get(heartbeat.agent)
    if agent is None:
        raise HTTPException(403, strict_mode_detail(heartbeat.agent, project))

    row = build_row(heartbeat, agent, project, received_at)
    [outcome] = await state.writer.write([row])
    if outcome.rejection is not None:
        raise HTTPException(422, _rejection_detail(outcome.rejection, ("body",)))
    return JSONResponse(
        {**_stored(outcome, row), "min_interval_seconds": project.min_interval_seconds}
    )


@router.post(
    "/heartbeat/batch", response_model=BatchResponse, openapi_extra=request_body(HeartbeatBatch)
)
async def post_heartbeat_batch(request: Request) -> JSONResponse:
    """Store up to 100 heartbeats; each item gets its own result, in order."""
    project = await authenticate(request)
    batch = await read_body(request, HeartbeatBatch)
    state: IngestState = request.app.state.ingest
    received_at = datetime.now(UTC)

    # Validate item by item, so that one bad item is reported alone.
    valid: dict[int, Heartbeat] = {}
    results: dict[int, dict[str, Any]] = {}
    for index, item in enumerate(batch.heartbeats):
        try:
            valid[index] = _heartbeat_adapter.validate_python(item)
        except ValidationError as error:
            loc_prefix = ("body", "heartbeats", index)
            detail = validation_detail(error.errors(), loc_prefix)
            named = item.get("agent") if isinstance(item, dict) else None
            results[index] = _error_item(index, named, 422, detail)

    names = {hb.agent: hb.agent_type for hb in valid.values()}
    agents = await state.agents.resolve(state, project, names) if names else {}

    rows: list[tuple[int, HeartbeatRow]] = []
    for count, (index, hb) in enumerate(valid.items(), start=1):
        if count % YIELD_EVERY_ITEMS == 0:
            # Pricing 100 items with 100 models each takes most of a second, so other
            # requests get their turn in between.
            await asyncio.sleep(0)
        agent = agents.get(hb.agent)
        if agent is None:
            detail = strict_mode_detail(hb.agent, project)
            results[index] = _error_item(index, hb.agent, 403, detail)
        else:
            rows.append((index, build_row(hb, agent, project, received_at)))

    received = 0
    if rows:
        outcomes = await state.writer.write([row for _, row in rows])
        for (index, row), outcome in zip(rows, outcomes, strict=True):
            agent_name = valid[index].agent
            if outcome.rejection is not None:
                loc = ("body", "heartbeats", index)
                detail = _rejection_detail(outcome.rejection, loc)
                results[index] = _error_item(index, agent_name, 422, detail)
                continue
            received += 1
            results[index] = {"index": index, "agent": agent_name, **_stored(outcome, row)}
            results[index]["error"] = None

    ordered = [results[i] for i in range(len(batch.heartbeats))]
    return JSONResponse(
        {
            "received": received,
            "min_interval_seconds": project.min_interval_seconds,
            "results": ordered,
        }
    )


def build_row(
    hb: Heartbeat, agent: AgentRef, project: Project, received_at: datetime
) -> HeartbeatRow:
    """Turn a validated heartbeat into the row stored for it, pricing its usage."""
    message, truncated = hb.truncated_message()
    priced = price_usage(hb.usage) if hb.usage else None

    cost, cost_source = hb.cost_usd, "client" if hb.cost_usd is not None else None
    if cost is None and priced is not None and priced.cost_usd is not None:
        cost, cost_source = priced.cost_usd, "computed"

    tokens = hb.tokens_used
    if tokens is None and priced is not None:
        tokens = priced.input_tokens + priced.output_tokens

    return HeartbeatRow(
        time=received_at,
        project_id=project.id,
        agent_id=agent.id,
        heartbeats_table=project.heartbeats_table,
        client_time=hb.timestamp,
        status=hb.status,
        message=message,
        message_truncated=truncated,
        tokens_used=tokens,
        cost_usd=cost,
        cost_source=cost_source,
        tool_calls=hb.tool_calls,
        iteration_count=hb.iteration_count,
        memory_mb=hb.memory_mb,
        input_tokens=priced.input_tokens if priced else None,
        output_tokens=priced.output_tokens if priced else None,
        cached_tokens=priced.cached_tokens if priced else None,
        cache_write_tokens=priced.cache_write_tokens if priced else None,
        reasoning_tokens=priced.reasoning_tokens if priced else None,
        llm_calls=priced.llm_calls if priced else None,
        unpriced_calls=priced.unpriced_calls if priced else None,
        unknown_usage_calls=hb.unknown_usage_calls,
        usage=[u.model_dump() for u in hb.usage] if hb.usage else None,
        fingerprints=hb.fingerprints or None,
        instance_id=hb.instance_id,
        seq=hb.seq,
        source=hb.source,
        agent_type=hb.agent_type,
        busy_seconds=hb.busy_seconds,
        busy_reason=hb.busy_reason,
        restart_type=hb.restart_type,
        restart_target=hb.restart_target,
    )


# The responses are built here key by key, in the order and with the defaults of their
# response models (HeartbeatResponse, BatchItemResult), which only document them.


def _stored(outcome: RowOutcome, row: HeartbeatRow) -> dict[str, Any]:
    return {
        "received": True,
        "agent_id": outcome.agent_id,
        "status": outcome.status,
        "duplicate": outcome.duplicate,
        "message_truncated": row.message_truncated,
        "warning": outcome.warning,
    }


def _rejection_detail(reason: str, loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Return a 422 detail for a heartbeat that passed validation but not the database."""
    msg = f"the database rejected this heartbeat: {reason}"
    return [{"loc": list(loc), "msg": msg, "type": "database_rejected"}]


def _error_item(index: int, agent: Any, status_code: int, detail: Any) -> dict[str, Any]:
    """Return the result of a batch item that was not stored.

    agent is the item's "agent" value as sent, reported only when it is a string.
    """
    return {
        "index": index,
        "agent": agent[:200] if isinstance(agent, str) else None,
        "received": False,
        "agent_id": None,
        "status": None,
        "duplicate": False,
        "message_truncated": False,
        "warning": None,
        "error": {"status_code": status_code, "detail": detail},
    }
