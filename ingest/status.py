"""GET /api/v1/status: the project's enabled agents, a page at a time, with counts."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from clevagent_server.db import queries
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.models import StatusResponse
from clevagent_server.ingest.state import IngestState

router = APIRouter(prefix="/api/v1", tags=["status"])


@router.get("/status", response_model=StatusResponse)
async def get_status(
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    state: IngestState = request.app.state.ingest
    async with state.connection() as conn:
        cursor = await conn.execute(
            queries.load("ingest/status_summary"), {"project_id": project.id}
        )
        name, timezone, total, healthy, degraded, dead, unknown = await cursor.fetchone()  # type: ignore[misc]
        cursor = await conn.execute(
            queries.load("ingest/status_agents"),
            {"project_id": project.id, "timezone": timezone, "limit": limit, "offset": offset},
        )
        columns = [c.name for c in cursor.description or ()]
        agents = [dict(zip(columns, row, strict=True)) for row in await cursor.fetchall()]

    return {
        "project": name,
        "agents": agents,
        "summary": {
            "total": total,
            "healthy": healthy,
            "degraded": degraded,
            "dead": dead,
            "unknown": unknown,
        },
    }
