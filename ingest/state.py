"""The per-process state of the ingest application: the pool, caches and the writer."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from clevagent_server.db.database import DatabaseUnavailable
from clevagent_server.ingest.ratelimit import InProcessRateLimiter, RateLimiter

if TYPE_CHECKING:
    from clevagent_server.ingest.agents import AgentDirectory
    from clevagent_server.ingest.writer import HeartbeatWriter

# How long a request waits for a pooled connection before the API responds 503.
POOL_TIMEOUT_SECONDS = 5.0


@dataclass
class IngestState:
    pool: AsyncConnectionPool
    rate_limiter: RateLimiter = field(default_factory=InProcessRateLimiter)
    key_cache: dict[bytes, tuple[float, Any]] = field(default_factory=dict)
    keys_used: set[int] = field(default_factory=set)
    # When set, GET /metrics requires `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    # Set by create_app; declared here so every route can reach them through the state.
    writer: "HeartbeatWriter" = field(init=False)
    agents: "AgentDirectory" = field(init=False)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """Lend a pooled connection; connection failures become DatabaseUnavailable."""
        try:
            async with self.pool.connection(timeout=POOL_TIMEOUT_SECONDS) as conn:
                yield conn
        except PoolTimeout as error:
            raise DatabaseUnavailable("no database connection became free in time") from error
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(str(error)) from error
