"""API key authentication and the per-key rate limit, as one FastAPI dependency.

Keys are looked up by their SHA-256. Lookups are cached for a short time so that the hot
path does not query the database per request. A revoked key stops working within
KEY_CACHE_SECONDS.
"""

import hashlib
import logging
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request

from clevagent_server.ingest.ratelimit import retry_after_seconds
from clevagent_server.ingest.state import IngestState

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 30.0
UNKNOWN_KEY_CACHE_SECONDS = 5.0
MAX_CACHED_KEYS = 50_000

INVALID_KEY_DETAIL = "Invalid or missing X-API-Key header"

_LOOKUP_KEY = """
SELECT k.id, p.id, p.name, p.plan, pl.rate_limit_per_minute, p.strict_mode,
       pl.heartbeats_table, pl.min_interval_seconds
FROM api_keys k
JOIN projects p ON p.id = k.project_id
JOIN plans pl ON pl.name = p.plan
WHERE k.key_hash = %s AND k.revoked_at IS NULL
"""


@dataclass(frozen=True)
class Project:
    """The project an authenticated request acts for, with its plan's limits."""

    key_id: int
    id: int
    name: str
    plan: str
    rate_limit_per_minute: int
    strict_mode: bool
    heartbeats_table: str
    min_interval_seconds: int


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


async def authenticate(request: Request) -> Project:
    """Resolve X-API-Key to its project and count the request against the key's limit.

    Raises 401 for a missing, unknown or revoked key and 429 past the rate limit.
    """
    state: IngestState = request.app.state.ingest
    key = request.headers.get("x-api-key")
    if not key or len(key) > 200:
        raise HTTPException(401, INVALID_KEY_DETAIL)

    project = await _lookup(state, hash_key(key))
    if project is None:
        raise HTTPException(401, INVALID_KEY_DETAIL)

    wait = state.rate_limiter.hit(str(project.key_id), project.rate_limit_per_minute)
    if wait is not None:
        seconds = retry_after_seconds(wait)
        raise HTTPException(
            429,
            f"Rate limit exceeded. Retry after {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
        )

    state.keys_used.add(project.key_id)
    return project


async def _lookup(state: IngestState, key_hash: bytes) -> Project | None:
    now = time.monotonic()
    cached = state.key_cache.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]

    async with state.connection() as conn:
        cursor = await conn.execute(_LOOKUP_KEY, (key_hash,))
        row = await cursor.fetchone()
    project = Project(*row) if row else None

    if len(state.key_cache) >= MAX_CACHED_KEYS:
        state.key_cache.clear()
    ttl = KEY_CACHE_SECONDS if project else UNKNOWN_KEY_CACHE_SECONDS
    state.key_cache[key_hash] = (now + ttl, project)
    return project
