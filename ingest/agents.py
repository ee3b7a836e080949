"""Agent names to ids, creating agents on first sight unless the project is strict.

Lookups are cached per process; an entry lives AGENT_CACHE_SECONDS, which bounds how long
a change of strict mode or a registration takes to reach a running server.
"""

import time
from dataclasses import dataclass

from clevagent_server.db import queries
from clevagent_server.ingest.auth import Project
from clevagent_server.ingest.state import IngestState

AGENT_CACHE_SECONDS = 60.0
MAX_CACHED_AGENTS = 200_000


@dataclass(frozen=True)
class AgentRef:
    id: int
    registered: bool


class AgentDirectory:
    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], tuple[float, AgentRef]] = {}

    async def resolve(
        self, state: IngestState, project: Project, names: dict[str, str | None]
    ) -> dict[str, AgentRef]:
        """Map agent names (with their agent_type) to agents.

        Creates missing agents unless the project is strict. A name missing from the
        result is an agent that strict mode rejects: unknown, or known but unregistered.
        """
        now = time.monotonic()
        found: dict[str, AgentRef] = {}
        missing: dict[str, str | None] = {}
        for name, agent_type in names.items():
            cached = self._cache.get((project.id, name))
            if cached is not None and cached[0] > now:
                found[name] = cached[1]
            else:
                missing[name] = agent_type

        if missing:
            loaded = await self._load(state, project, missing)
            self._remember(project.id, loaded, now)
            found.update(loaded)

        if project.strict_mode:
            return {name: ref for name, ref in found.items() if ref.registered}
        return found

    async def _load(
        self, state: IngestState, project: Project, names: dict[str, str | None]
    ) -> dict[str, AgentRef]:
        params = {
            "project_id": project.id,
            "name": list(names),
            "agent_type": list(names.values()),
        }
        async with state.connection() as conn, conn.transaction():
            if not project.strict_mode:
                await conn.execute(queries.load("ingest/create_agents"), params)
            cursor = await conn.execute(queries.load("ingest/find_agents"), params)
            rows = await cursor.fetchall()
        return {name: AgentRef(agent_id, registered) for name, agent_id, registered in rows}

    def _remember(self, project_id: int, loaded: dict[str, AgentRef], now: float) -> None:
        if len(self._cache) + len(loaded) > MAX_CACHED_AGENTS:
            self._cache.clear()
        expires = now + AGENT_CACHE_SECONDS
        for name, ref in loaded.items():
            self._cache[(project_id, name)] = (expires, ref)
