"""GET /metrics in the Prometheus text exposition format, and the request-metrics middleware.

Per-agent, per-project and detector values are read from the database at scrape time, so
every worker and every replica returns the same values for them. Request counts and
latencies live in the process that served the request: with several workers in one
server, set PROMETHEUS_MULTIPROC_DIR (see prepare_multiprocess_dir) so that any worker's
scrape merges all of them.

Label cardinality: per-agent series exist for the first `max_agents` agents by id (the
oldest), a set that only changes when agents are deleted. Agents past the cap appear only
in the per-project totals and in clevagent_metrics_agents_omitted.
"""

import hmac
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import class_row
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clevagent_server.db import queries

logger = logging.getLogger(__name__)

# About 15 series per agent, so the default cap bounds a scrape at roughly 30,000 series.
DEFAULT_MAX_AGENT_SERIES = 2000

AGENT_STATUSES = ("unknown", "healthy", "degraded", "dead")

# agent_events types exported as clevagent_agent_restart_events_total{event=...}.
RESTART_EVENTS = {
    "restart_queued": "queued",
    "restart_attempt": "attempt",
    "restart_succeeded": "succeeded",
    "restart_failed": "failed",
}

# Standard HTTP methods keep their name. Anything else is counted as "other", so that a
# client cannot create series at will.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Seconds. Heartbeat requests take a few milliseconds, and the tail reaches the 10 s
# statement timeout of the database connections.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_REGISTRY = CollectorRegistry(auto_describe=True)
REQUEST_DURATION = Histogram(
    "clevagent_http_server_request_duration_seconds",
    "Time from receiving an HTTP request to sending the last byte of its response.",
    ["method", "route", "status_code"],
    buckets=LATENCY_BUCKETS,
    registry=REQUEST_REGISTRY,
)


@dataclass(frozen=True)
class AgentSnapshot:
    """One agent's gauges and cumulative counters at read time. Times are Unix seconds."""

    agent_id: int
    project_id: int
    project: str
    agent: str
    status: str
    created_at: float
    last_heartbeat_at: float | None
    heartbeat_age_seconds: float | None
    uptime_seconds: float
    heartbeats: int
    tokens: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class EventCount:
    agent_id: int
    type: str
    signal: str
    events: int


@dataclass(frozen=True)
class ProjectSnapshot:
    project_id: int
    project: str
    agents: int
    tokens: int
    cost_usd: float


@dataclass(frozen=True)
class DetectorRun:
    duration_seconds: float | None
    finished_at: float
    agents_checked: int | None
    events_written: int | None
    failed: bool


@dataclass(frozen=True)
class Snapshot:
    """Everything /metrics reads from the database in one scrape."""

    agents: list[AgentSnapshot]
    events: list[EventCount]
    projects: list[ProjectSnapshot]
    detector_run: DetectorRun | None
    max_agents: int


async def read_snapshot(conn: AsyncConnection[Any], max_agents: int) -> Snapshot:
    """Read the per-agent, per-project and detector values of every project."""
    agents = await _fetch(
        conn, AgentSnapshot, "agent_snapshot", {"project_id": None, "max_agents": max_agents}
    )
    events = await _fetch(
        conn, EventCount, "agent_event_counts", {"agent_ids": [a.agent_id for a in agents]}
    )
    projects = await _fetch(conn, ProjectSnapshot, "project_snapshot", {})
    return Snapshot(agents, events, projects, await _read_detector_run(conn), max_agents)


async def _fetch(
    conn: AsyncConnection[Any], row_type: type, query: str, params: dict[str, Any]
) -> list[Any]:
    cursor: AsyncCursor[Any]
    async with conn.cursor(row_factory=class_row(row_type)) as cursor:
        await cursor.execute(queries.load(f"telemetry/{query}"), params)
        return await cursor.fetchall()


async def _read_detector_run(conn: AsyncConnection[Any]) -> DetectorRun | None:
    # detector_runs belongs to the detectors' migrations. Without it, the scrape has no
    # detector metrics rather than failing.
    cursor = await conn.execute("SELECT to_regclass('detector_runs') IS NOT NULL")
    row = await cursor.fetchone()
    if not row or not row[0]:
        return None
    runs = await _fetch(conn, DetectorRun, "detector_last_run", {})
    return runs[0] if runs else None


class SnapshotCollector(Collector):
    """A Prometheus collector over one Snapshot, built afresh for every scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        yield from agent_metrics(self.snapshot.agents)
        yield from event_metrics(self.snapshot.agents, self.snapshot.events)
        yield from project_metrics(self.snapshot)
        yield from detector_metrics(self.snapshot.detector_run)


AGENT_LABELS = ["project", "agent"]


def agent_metrics(agents: list[AgentSnapshot]) -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "clevagent_agent_status",
        "1 for the agent's current status (unknown, healthy, degraded, dead), 0 for the others.",
        labels=[*AGENT_LABELS, "status"],
    )
    for agent in agents:
        for name in AGENT_STATUSES:
            status.add_metric([agent.project, agent.agent, name], float(agent.status == name))
    yield status

    yield from _heartbeat_time_metrics(agents)
    yield _agent_gauge(
        agents,
        "clevagent_agent_uptime_seconds",
        "Seconds since the agent last left the dead or unknown status; "
        "0 while it is dead or unknown.",
        lambda a: a.uptime_seconds,
    )
    yield _agent_counter(
        agents,
        "clevagent_agent_heartbeats",
        "Heartbeats received from the agent.",
        lambda a: a.heartbeats,
    )
    yield _agent_counter(
        agents,
        "clevagent_agent_tokens",
        "Tokens reported by the agent (tokens_used).",
        lambda a: a.tokens,
    )
    yield _agent_counter(
        agents,
        "clevagent_agent_input_tokens",
        "Input tokens from the agent's per-model usage.",
        lambda a: a.input_tokens,
    )
    yield _agent_counter(
        agents,
        "clevagent_agent_output_tokens",
        "Output tokens from the agent's per-model usage.",
        lambda a: a.output_tokens,
    )
    yield _agent_counter(
        agents,
        "clevagent_agent_cost_usd",
        "LLM cost of the agent in US dollars.",
        lambda a: a.cost_usd,
    )


def _heartbeat_time_metrics(agents: list[AgentSnapshot]) -> Iterator[Metric]:
    seen = [a for a in agents if a.last_heartbeat_at is not None]
    yield _agent_gauge(
        seen,
        "clevagent_agent_last_heartbeat_timestamp_seconds",
        "Unix time at which the server received the agent's latest heartbeat.",
        lambda a: a.last_heartbeat_at,
    )
    yield _agent_gauge(
        seen,
        "clevagent_agent_heartbeat_age_seconds",
        "Seconds since the server received the agent's latest heartbeat.",
        lambda a: a.heartbeat_age_seconds,
    )


def _agent_gauge(agents: list[AgentSnapshot], name: str, help_text: str, value: Any) -> Metric:
    family = GaugeMetricFamily(name, help_text, labels=AGENT_LABELS)
    for agent in agents:
        family.add_metric([agent.project, agent.agent], float(value(agent)))
    return family


def _agent_counter(agents: list[AgentSnapshot], name: str, help_text: str, value: Any) -> Metric:
    family = CounterMetricFamily(name, help_text, labels=AGENT_LABELS)
    for agent in agents:
        family.add_metric([agent.project, agent.agent], float(value(agent)))
    return family


def event_metrics(agents: list[AgentSnapshot], events: list[EventCount]) -> Iterator[Metric]:
    names = {a.agent_id: [a.project, a.agent] for a in agents}
    loops = CounterMetricFamily(
        "clevagent_agent_loop_detections",
        "Loops detected for the agent (loop_started events), by detector signal.",
        labels=[*AGENT_LABELS, "signal"],
    )
    restarts = CounterMetricFamily(
        "clevagent_agent_restart_events",
        "Restart events of the agent: queued, attempt, succeeded, failed.",
        labels=[*AGENT_LABELS, "event"],
    )
    langfuse = CounterMetricFamily(
        "clevagent_agent_langfuse_errors",
        "Error traces reported for the agent through the Langfuse webhook.",
        labels=AGENT_LABELS,
    )
    for count in events:
        labels = names[count.agent_id]
        if count.type == "loop_started":
            loops.add_metric([*labels, count.signal], count.events)
        elif count.type in RESTART_EVENTS:
            restarts.add_metric([*labels, RESTART_EVENTS[count.type]], count.events)
        elif count.type == "langfuse_error":
            langfuse.add_metric(labels, count.events)
    yield from (loops, restarts, langfuse)


def project_metrics(snapshot: Snapshot) -> Iterator[Metric]:
    projects = snapshot.projects
    agents = GaugeMetricFamily(
        "clevagent_project_agents", "Agents registered in the project.", labels=["project"]
    )
    tokens = CounterMetricFamily(
        "clevagent_project_tokens",
        "Tokens reported by all agents of the project.",
        labels=["project"],
    )
    cost = CounterMetricFamily(
        "clevagent_project_cost_usd",
        "LLM cost of all agents of the project in US dollars.",
        labels=["project"],
    )
    for project in projects:
        agents.add_metric([project.project], project.agents)
        tokens.add_metric([project.project], project.tokens)
        cost.add_metric([project.project], project.cost_usd)
    yield from (agents, tokens, cost)

    omitted = sum(p.agents for p in projects) - len(snapshot.agents)
    yield GaugeMetricFamily(
        "clevagent_metrics_agents_omitted",
        "Agents without per-agent series because of the series cap.",
        value=max(omitted, 0),
    )
    yield GaugeMetricFamily(
        "clevagent_metrics_agent_series_limit",
        "The maximum number of agents that get per-agent series.",
        value=snapshot.max_agents,
    )


def detector_metrics(run: DetectorRun | None) -> Iterator[Metric]:
    if run is None:
        return
    yield GaugeMetricFamily(
        "clevagent_detector_last_run_timestamp_seconds",
        "Unix time at which the latest detector cycle finished.",
        value=run.finished_at,
    )
    if run.duration_seconds is not None:
        yield GaugeMetricFamily(
            "clevagent_detector_last_run_duration_seconds",
            "Duration of the latest detector cycle.",
            value=run.duration_seconds,
        )
    yield GaugeMetricFamily(
        "clevagent_detector_last_run_agents_checked",
        "Agents checked by the latest detector cycle.",
        value=run.agents_checked or 0,
    )
    yield GaugeMetricFamily(
        "clevagent_detector_last_run_events_written",
        "Events written by the latest detector cycle.",
        value=run.events_written or 0,
    )
    yield GaugeMetricFamily(
        "clevagent_detector_last_run_failed",
        "1 if the latest detector cycle recorded an error, else 0.",
        value=float(run.failed),
    )


class _RequestRegistryCollector(Collector):
    """Expose this process's request metrics inside a per-scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return REQUEST_REGISTRY.collect()


def render(snapshot: Snapshot) -> bytes:
    """Return the exposition text for one scrape: database values plus request metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Read at scrape time: the merged files of every worker of this server.
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_RequestRegistryCollector())
    return generate_latest(registry)


def build_router(max_agents: int = DEFAULT_MAX_AGENT_SERIES) -> APIRouter:
    """Return a router serving GET /metrics with per-agent series for `max_agents` agents."""
    if max_agents < 0:
        raise ValueError(f"max_agents must be 0 or more, got {max_agents}")
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        state = request.app.state.ingest
        if state.metrics_token is not None and not _has_bearer(request, state.metrics_token):
            return JSONResponse(
                {"detail": METRICS_TOKEN_DETAIL},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        async with state.connection() as conn:
            snapshot = await read_snapshot(conn, max_agents)
        # Text format 0.0.4: every Prometheus version and the OTel Collector and Alloy
        # scrapers parse it, and every name here is valid in it.
        return Response(render(snapshot), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router


router = build_router()

METRICS_TOKEN_DETAIL = (
    "Invalid or missing bearer token. This server's /metrics requires the header "
    "`Authorization: Bearer <token>` with the token set in CLEVAGENT_METRICS_TOKEN."
)


def _has_bearer(request: Request, token: str) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Starlette decodes header bytes as Latin-1; encoding them back gives the bytes sent,
    # which a client such as Prometheus sends as UTF-8.
    return hmac.compare_digest(credentials.strip().encode("latin-1"), token.encode("utf-8"))


class RequestMetricsMiddleware:
    """ASGI middleware that observes every HTTP request in REQUEST_DURATION.

    The route label is the matched path template (/api/v1/commands/{command_id}/result), not the
    raw path, and "unmatched" when no route matched, so its values are bounded by the
    application's routes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status_code = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            self._observe(scope, status_code, time.perf_counter() - started)

    @staticmethod
    def _observe(scope: Scope, status_code: int, seconds: float) -> None:
        method = scope.get("method", "")
        route = scope.get("route")
        labels = (
            method if method in HTTP_METHODS else "other",
            getattr(route, "path", "unmatched"),
            str(status_code),
        )
        # labels() takes a lock and builds a key on every call; the set of label values
        # is bounded by the routes, so the children are kept here after the first lookup.
        child = _DURATION_CHILDREN.get(labels)
        if child is None:
            child = _DURATION_CHILDREN[labels] = REQUEST_DURATION.labels(*labels)
        child.observe(seconds)


_DURATION_CHILDREN: dict[tuple[str, str, str], Any] = {}


def install_request_metrics(app: FastAPI) -> None:
    """Add RequestMetricsMiddleware to the application (before it starts serving)."""
    app.add_middleware(RequestMetricsMiddleware)


def prepare_multiprocess_dir(directory: Path) -> None:
    """Empty `directory` and point PROMETHEUS_MULTIPROC_DIR at it.

    Call it in the parent process before starting several server workers: prometheus_client
    chooses its multiprocess storage when a worker first imports it, from this variable,
    and files left by an earlier run would be added to the new counts.
    """
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    logger.info("prometheus multiprocess directory is %s", directory)
