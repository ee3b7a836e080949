"""The ingest FastAPI application."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from clevagent_server.db import queries
from clevagent_server.db.database import DatabaseUnavailable, connection_options
from clevagent_server.ingest import (
    agents_api,
    commands,
    events,
    heartbeats,
    langfuse,
    metrics,
    otel,
    status,
)
from clevagent_server.ingest.agents import AgentDirectory
from clevagent_server.ingest.errors import BodySizeLimit, install_error_handlers
from clevagent_server.ingest.models import Heartbeat, HeartbeatBatch
from clevagent_server.ingest.openapi import complete_openapi
from clevagent_server.ingest.state import IngestState
from clevagent_server.ingest.writer import HeartbeatWriter

logger = logging.getLogger(__name__)

KEY_USAGE_FLUSH_SECONDS = 60.0


def create_app(
    database_url: str, *, pool_size: int = 10, metrics_token: str | None = None
) -> FastAPI:
    """Build the application for one database; the pool opens when the app starts.

    With metrics_token, GET /metrics requires it as a bearer token.
    """
    pool = AsyncConnectionPool(
        database_url,
        kwargs={**connection_options(database_url), "autocommit": True},
        min_size=2,
        max_size=pool_size,
        open=False,
        name="clevagent-ingest",
    )
    # A token read from a file often ends with a newline that no client sends.
    state = IngestState(pool=pool, metrics_token=(metrics_token or "").strip() or None)
    state.writer = HeartbeatWriter(state)
    state.agents = AgentDirectory()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # wait=False: the API starts, and responds 503, while the database is down.
        await pool.open(wait=False)
        tasks = [
            asyncio.create_task(state.writer.run(), name="heartbeat-writer"),
            asyncio.create_task(_flush_key_usage_forever(state), name="key-usage"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await _flush_key_usage(state)
            await pool.close()

    app = FastAPI(
        title="ClevAgent",
        summary="Monitoring for long-running AI agents: heartbeats, cost, loops, restarts.",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry instrumentation looks up the global providers on
        # every request, about 5 % of a heartbeat's time. The server reports on its
        # requests through /metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ingest = state
    complete_openapi(app, [Heartbeat, HeartbeatBatch])
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    metrics.install_request_metrics(app)
    for module in (heartbeats, status, agents_api, commands, events, langfuse, otel, metrics):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Report whether the API is up and its database responds."""
        async with state.connection() as conn:
            await conn.execute("SELECT 1")
        return {"status": "ok"}

    return app


async def _flush_key_usage_forever(state: IngestState) -> None:
    while True:
        await asyncio.sleep(KEY_USAGE_FLUSH_SECONDS)
        await _flush_key_usage(state)


async def _flush_key_usage(state: IngestState) -> None:
    """Write the last-used time of the keys used since the previous flush."""
    used, state.keys_used = state.keys_used, set()
    if not used:
        return
    try:
        async with state.connection() as conn:
            await conn.execute(queries.load("ingest/touch_keys"), (sorted(used),))
    except DatabaseUnavailable as error:
        logger.warning("could not record the use of %d API keys: %s", len(used), error)
        state.keys_used |= used
