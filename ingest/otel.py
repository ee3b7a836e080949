"""Per-project OpenTelemetry export: the otel-config API and the OTLP/HTTP push thread.

POST /api/v1/projects/{id}/otel-config stores whether and where a project's metrics go.
run_exporter() is the loop that `clevagent serve` runs in a thread of its own: every
interval it folds the telemetry totals, then pushes each enabled "otlp" project's metrics
through opentelemetry-sdk's OTLP/HTTP exporter. It uses its own database connection and
never touches the API's pool, so a slow collector cannot slow ingest.

Counters are cumulative (monotonic sums that start when the agent was created), so a
failed export loses nothing: the next one carries the current totals.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from psycopg.rows import class_row
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from clevagent_server.db import database, queries
from clevagent_server.ingest.auth import Project, authenticate
from clevagent_server.ingest.metrics import (
    AGENT_STATUSES,
    DEFAULT_MAX_AGENT_SERIES,
    RESTART_EVENTS,
    AgentSnapshot,
    EventCount,
)

logger = logging.getLogger(__name__)

MAX_ENDPOINT_CHARS = 2048

# Seconds one project's export may take, retries included; the exporter backs off
# between attempts on connection errors and on 429, 502, 503 and 504.
MAX_EXPORT_SECONDS = 10.0

# How far the telemetry watermark lags now(): a transaction that writes heartbeats or
# events and commits later than this after it started is not counted in the totals. The
# API's statement timeout (10 s) keeps ingest transactions far shorter.
FOLD_MARGIN_SECONDS = 300.0

PROJECT_NOT_FOUND = "Project not found"

# Comma-separated host names (as written in endpoint URLs) that OTLP endpoints may name.
# Unset, any host is allowed.
ALLOWED_HOSTS_VARIABLE = "CLEVAGENT_OTLP_ALLOWED_HOSTS"


# --- The endpoint -------------------------------------------------------------------


def validate_endpoint(value: str) -> str:
    """Return the endpoint if it is an acceptable OTLP/HTTP URL, else raise ValueError.

    Accepted: http or https, a host, an optional port and path, at most
    MAX_ENDPOINT_CHARS characters. Rejected: credentials in the URL (they would be
    stored and returned in clear), fragments, whitespace and control characters.
    """
    if len(value) > MAX_ENDPOINT_CHARS:
        raise ValueError(f"endpoint must be at most {MAX_ENDPOINT_CHARS} characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError("endpoint must not contain spaces or control characters")

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port raises ValueError when it is invalid
    except ValueError as error:
        raise ValueError(f"endpoint is not a valid URL: {error}") from error

    if parts.scheme not in ("http", "https"):
        raise ValueError("endpoint must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("endpoint must name a host, for example https://collector:4318")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "endpoint must not contain credentials; use a collector that "
            "accepts the stack's requests without them"
        )
    if parts.fragment:
        raise ValueError("endpoint must not contain a fragment (#...)")
    hosts = allowed_hosts()
    if hosts is not None and parts.hostname.lower() not in hosts:
        raise ValueError(
            f"endpoint host {parts.hostname!r} is not allowed on this server; the allowed "
            f"hosts are {', '.join(sorted(hosts))} (set by {ALLOWED_HOSTS_VARIABLE})"
        )
    return value


def allowed_hosts() -> frozenset[str] | None:
    """Return the hosts OTLP endpoints may name, or None when the operator set no list."""
    listed = os.environ.get(ALLOWED_HOSTS_VARIABLE, "")
    # IPv6 addresses are written in brackets in URLs, and urlsplit returns them without.
    hosts = frozenset(
        host.strip().lower().removeprefix("[").removesuffix("]")
        for host in listed.split(",")
        if host.strip()
    )
    return hosts or None


def endpoint_allowed(endpoint: str) -> bool:
    """Return whether endpoint's host is allowed by the operator's list, if there is one."""
    hosts = allowed_hosts()
    return hosts is None or (urlsplit(endpoint).hostname or "").lower() in hosts


def metrics_url(endpoint: str) -> str:
    """Return the OTLP/HTTP metrics URL for a collector base URL.

    https://collector:4318 and https://collector:4318/ become .../v1/metrics; a URL whose
    path already ends in /v1/metrics is used as it is.
    """
    parts = urlsplit(endpoint)
    if parts.path.endswith("/v1/metrics"):
        return endpoint
    path = parts.path.rstrip("/") + "/v1/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


# --- The otel-config API ------------------------------------------------------------


Endpoint = Annotated[str, Field(max_length=MAX_ENDPOINT_CHARS), AfterValidator(validate_endpoint)]


class OtelConfigRequest(BaseModel):
    """A project's export settings. format "prometheus" means: scrape /metrics."""

    model_config = ConfigDict(extra="ignore")

    enabled: bool
    endpoint: Endpoint | None = None
    format: Literal["otlp", "prometheus"] = "otlp"

    @model_validator(mode="after")
    def _require_endpoint_for_otlp(self) -> "OtelConfigRequest":
        if self.enabled and self.format == "otlp" and self.endpoint is None:
            raise ValueError("endpoint is required when enabled is true and format is otlp")
        return self


class OtelConfigResponse(BaseModel):
    project_id: int
    enabled: bool
    format: Literal["otlp", "prometheus"]
    endpoint: str | None
    updated_at: datetime
    last_export_at: datetime | None
    last_export_error: str | None


router = APIRouter(prefix="/api/v1", tags=["telemetry"])

ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _own_project(project_id: int, project: Project) -> None:
    # Another project's id gets the same 404 as an unknown one, so a key cannot probe
    # which projects exist.
    if project_id != project.id:
        raise HTTPException(404, PROJECT_NOT_FOUND)


@router.post("/projects/{project_id}/otel-config", response_model=OtelConfigResponse)
async def put_otel_config(
    project_id: ProjectId,
    body: OtelConfigRequest,
    request: Request,
    project: Annotated[Project, Depends(authenticate)],
) -> dict[str, Any]:
    """Store the project's export settings; an enabled otlp config is pushed every interval."""
    _own_project(project_id, project)
    params = {"project_id": project.id, **body.model_dump()}
    async with request.app.state.ingest.connection() as conn:
        cursor = await conn.execute(queries.load("telemetry/upsert_otel_config"), params)
        row = await cursor.fetchone()
        columns = [c.name for c in cursor.description or ()]
    logger.info(
        "otel config of project %s set: enabled=%s format=%s endpoint=%s",
        project.id,
        body.enabled,
        body.format,
        body.endpoint,
    )
    return dict(zip(columns, row, strict=True))


@router.get("/projects/{project_id}/otel-config", response_model=OtelConfigResponse)
async def get_otel_config(
    project_id: ProjectId, request: Request, project: Annotated[Project, Depends(authenticate)]
) -> dict[str, Any]:
    """Return the project's export settings and the outcome of the latest export."""
    _own_project(project_id, project)
    async with request.app.state.ingest.connection() as conn:
        cursor = await conn.execute(
            queries.load("telemetry/get_otel_config"), {"project_id": project.id}
        )
        row = await cursor.fetchone()
        columns = [c.name for c in cursor.description or ()]
    if row is None:
        raise HTTPException(404, "No otel config is set for this project")
    return dict(zip(columns, row, strict=True))


# --- Reading a project's values -----------------------------------------------------


@dataclass(frozen=True)
class ExportTarget:
    project_id: int
    project: str
    endpoint: str
    updated_at: datetime


@dataclass(frozen=True)
class UsageTotal:
    """Cumulative token usage of one agent with one provider and model."""

    agent_id: int
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    calls: int


@dataclass(frozen=True)
class ProjectValues:
    agents: list[AgentSnapshot]
    events: list[EventCount]
    usage: list[UsageTotal]


def _fetch(
    conn: psycopg.Connection, row_type: type, name: str, params: dict[str, Any]
) -> list[Any]:
    cursor: psycopg.Cursor[Any]
    with conn.cursor(row_factory=class_row(row_type)) as cursor:
        cursor.execute(queries.load(f"telemetry/{name}"), params)
        return cursor.fetchall()


def read_project_values(conn: psycopg.Connection, project_id: int) -> ProjectValues:
    """Read one project's agents, event counts and per-model usage (first agents by id)."""
    limits = {"project_id": project_id, "max_agents": DEFAULT_MAX_AGENT_SERIES}
    agents = _fetch(conn, AgentSnapshot, "agent_snapshot", limits)
    events = _fetch(
        conn, EventCount, "agent_event_counts", {"agent_ids": [a.agent_id for a in agents]}
    )
    usage = _fetch(conn, UsageTotal, "project_usage_by_model", limits)
    return ProjectValues(agents, events, usage)


# --- Building the OTLP payload ------------------------------------------------------

# Token counters named by the OpenTelemetry GenAI semantic conventions (development
# status, semantic-conventions-genai, docs/gen-ai/gen-ai-token-metrics.md): monotonic
# counters in {token}, by provider, model and modality.
GENAI_USAGE_COUNTERS: Sequence[tuple[str, str, Callable[[UsageTotal], int]]] = (
    (
        "gen_ai.client.inference.usage.input_tokens",
        "Input (prompt) tokens used, including cached tokens.",
        lambda u: u.input_tokens,
    ),
    (
        "gen_ai.client.inference.usage.output_tokens",
        "Output (completion) tokens used, including reasoning tokens.",
        lambda u: u.output_tokens,
    ),
    (
        "gen_ai.client.inference.usage.cache_read.input_tokens",
        "Input tokens read from the provider's prompt cache.",
        lambda u: u.cached_tokens,
    ),
    (
        "gen_ai.client.inference.usage.cache_write.input_tokens",
        "Input tokens written to the provider's prompt cache.",
        lambda u: u.cache_write_tokens,
    ),
    (
        "gen_ai.client.inference.usage.reasoning.output_tokens",
        "Output tokens spent on reasoning.",
        lambda u: u.reasoning_tokens,
    ),
)

# Per-agent values with no semantic convention, under the clevagent. namespace.
AGENT_COUNTERS: Sequence[tuple[str, str, str, Callable[[AgentSnapshot], float]]] = (
    ("clevagent.agent.cost", "{USD}", "LLM cost of the agent in US dollars.", lambda a: a.cost_usd),
    (
        "clevagent.agent.tokens",
        "{token}",
        "Tokens reported by the agent (tokens_used).",
        lambda a: a.tokens,
    ),
    (
        "clevagent.agent.heartbeats",
        "{heartbeat}",
        "Heartbeats received from the agent.",
        lambda a: a.heartbeats,
    ),
)

AGENT_GAUGES: Sequence[tuple[str, str, str, Callable[[AgentSnapshot], float | None]]] = (
    (
        "clevagent.agent.uptime",
        "s",
        "Seconds since the agent last left the dead or unknown status; 0 while it is either.",
        lambda a: a.uptime_seconds,
    ),
    (
        "clevagent.agent.heartbeat.age",
        "s",
        "Seconds since the server received the agent's latest heartbeat.",
        lambda a: a.heartbeat_age_seconds,
    ),
)

# NOTE: a usage item does not say which operation it came from, so every usage counter
# carries gen_ai.operation.name "chat", although some items may come from other calls.
GENAI_OPERATION = "chat"


def _agent_attributes(agent: AgentSnapshot) -> dict[str, str]:
    return {"gen_ai.agent.name": agent.agent, "gen_ai.agent.id": str(agent.agent_id)}


def _start_ns(agent: AgentSnapshot) -> int:
    # Counters count from the agent's creation, which is therefore their start time.
    return int(agent.created_at * 1e9)


def _cumulative(name: str, unit: str, description: str, points: list[NumberDataPoint]) -> Metric:
    data = Sum(points, AggregationTemporality.CUMULATIVE, is_monotonic=True)
    return Metric(name=name, description=description, unit=unit, data=data)


def _gauge(name: str, unit: str, description: str, points: list[NumberDataPoint]) -> Metric:
    return Metric(name=name, description=description, unit=unit, data=Gauge(points))


def agent_metric_list(agents: list[AgentSnapshot], now_ns: int) -> Iterator[Metric]:
    for name, unit, description, value in AGENT_COUNTERS:
        points = [
            NumberDataPoint(_agent_attributes(a), _start_ns(a), now_ns, value(a)) for a in agents
        ]
        yield _cumulative(name, unit, description, points)

    for name, unit, description, reading in AGENT_GAUGES:
        points = [
            NumberDataPoint(_agent_attributes(a), 0, now_ns, gauge_value)
            for a in agents
            if (gauge_value := reading(a)) is not None
        ]
        yield _gauge(name, unit, description, points)

    status_points = [
        NumberDataPoint(
            {**_agent_attributes(a), "clevagent.agent.status": status},
            0,
            now_ns,
            int(a.status == status),
        )
        for a in agents
        for status in AGENT_STATUSES
    ]
    yield _gauge(
        "clevagent.agent.status",
        "1",
        "1 for the agent's current status, 0 for the other statuses.",
        status_points,
    )


def event_metric_list(
    agents: list[AgentSnapshot], events: list[EventCount], now_ns: int
) -> Iterator[Metric]:
    by_id = {a.agent_id: a for a in agents}
    loops: list[NumberDataPoint] = []
    restarts: list[NumberDataPoint] = []
    langfuse: list[NumberDataPoint] = []
    for count in events:
        agent = by_id[count.agent_id]
        attributes = _agent_attributes(agent)
        if count.type == "loop_started":
            attributes["clevagent.loop.signal"] = count.signal
            target = loops
        elif count.type in RESTART_EVENTS:
            attributes["clevagent.restart.event"] = RESTART_EVENTS[count.type]
            target = restarts
        else:
            target = langfuse
        target.append(NumberDataPoint(attributes, _start_ns(agent), now_ns, count.events))

    yield _cumulative(
        "clevagent.agent.loop_detections",
        "{detection}",
        "Loops detected for the agent, by detector signal.",
        loops,
    )
    yield _cumulative(
        "clevagent.agent.restart_events",
        "{event}",
        "Restart events of the agent: queued, attempt, succeeded, failed.",
        restarts,
    )
    yield _cumulative(
        "clevagent.agent.langfuse_errors",
        "{error}",
        "Error traces reported for the agent through the Langfuse webhook.",
        langfuse,
    )


def usage_metric_list(
    agents: list[AgentSnapshot], usage: list[UsageTotal], now_ns: int
) -> Iterator[Metric]:
    by_id = {a.agent_id: a for a in agents}
    for name, description, value in GENAI_USAGE_COUNTERS:
        points = []
        for total in usage:
            agent = by_id.get(total.agent_id)
            if agent is None:
                continue
            attributes = {
                **_agent_attributes(agent),
                "gen_ai.operation.name": GENAI_OPERATION,
                "gen_ai.request.model": total.model,
                "gen_ai.token.modality": "unknown",
            }
            if total.provider:
                attributes["gen_ai.provider.name"] = total.provider
            points.append(NumberDataPoint(attributes, _start_ns(agent), now_ns, value(total)))
        yield _cumulative(name, "{token}", description, points)


def build_metrics_data(target: ExportTarget, values: ProjectValues, now_ns: int) -> MetricsData:
    """Return one project's metrics as OTLP data, ready for the exporter."""
    resource = Resource(
        {
            "service.name": "clevagent",
            "clevagent.project.id": target.project_id,
            "clevagent.project.name": target.project,
        }
    )
    metrics = [
        *agent_metric_list(values.agents, now_ns),
        *event_metric_list(values.agents, values.events, now_ns),
        *usage_metric_list(values.agents, values.usage, now_ns),
    ]
    # Empty metrics would be sent as metrics without data points; leave them out.
    metrics = [m for m in metrics if m.data.data_points]
    scope = InstrumentationScope("clevagent_server.ingest.otel", "0.1.0")
    return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, metrics, "")], "")])


# --- The exporter thread ------------------------------------------------------------


class ProjectExporters:
    """The OTLP exporters of the enabled projects, and one export cycle over them."""

    def __init__(self, database_url: str, export_seconds: float) -> None:
        self.database_url = database_url
        self.export_seconds = export_seconds
        self.exporters: dict[int, tuple[str, OTLPMetricExporter]] = {}
        self.failing: set[int] = set()
        self.disallowed: set[int] = set()
        self.conn: psycopg.Connection | None = None

    def run_cycle(self, stop: threading.Event) -> None:
        """Fold the totals and export every enabled project once, logging every error."""
        try:
            self._cycle(stop)
        except Exception:
            # A bug in one cycle must not end the thread: metrics would silently stop.
            logger.exception("telemetry cycle failed")
            self._drop_connection()

    def _cycle(self, stop: threading.Event) -> None:
        try:
            conn = self._connection()
            conn.execute(
                queries.load("telemetry/fold_totals"), {"margin_seconds": FOLD_MARGIN_SECONDS}
            )
            targets = _fetch(conn, ExportTarget, "enabled_otlp_configs", {})
        except (psycopg.Error, database.DatabaseUnavailable) as error:
            logger.warning("telemetry cycle skipped, the database failed: %s", error)
            self._drop_connection()
            return

        targets = self._allowed(targets)
        self._keep_exporters_for(targets)
        for target in targets:
            if stop.is_set():
                return
            try:
                self._export_project(conn, target)
            except psycopg.Error as error:
                logger.warning(
                    "OTLP export of project %s skipped, the database failed: %s",
                    target.project_id,
                    error,
                )
                self._drop_connection()
                return

    def close(self) -> None:
        for _, exporter in self.exporters.values():
            exporter.shutdown()
        self.exporters.clear()
        self._drop_connection()

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = database.connect(self.database_url, autocommit=True)
        return self.conn

    def _drop_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _allowed(self, targets: list[ExportTarget]) -> list[ExportTarget]:
        """Drop the targets whose host the operator's list no longer allows, logging each once.

        An endpoint stored before the list was set, or before it changed, is not exported to.
        """
        allowed = []
        for target in targets:
            if endpoint_allowed(target.endpoint):
                allowed.append(target)
                self.disallowed.discard(target.project_id)
            elif target.project_id not in self.disallowed:
                self.disallowed.add(target.project_id)
                logger.warning(
                    "OTLP export of project %s skipped: the host of %s is not in %s",
                    target.project_id,
                    target.endpoint,
                    ALLOWED_HOSTS_VARIABLE,
                )
        return allowed

    def _keep_exporters_for(self, targets: list[ExportTarget]) -> None:
        # An exporter is bound to one URL: a changed or disabled config replaces it.
        expected_urls = {t.project_id: metrics_url(t.endpoint) for t in targets}
        for project_id, (url, exporter) in list(self.exporters.items()):
            if expected_urls.get(project_id) != url:
                exporter.shutdown()
                del self.exporters[project_id]
        for project_id, url in expected_urls.items():
            if project_id not in self.exporters:
                exporter = OTLPMetricExporter(endpoint=url, timeout=self.export_seconds)
                self.exporters[project_id] = (url, exporter)

    def _export_project(self, conn: psycopg.Connection, target: ExportTarget) -> None:
        url, exporter = self.exporters[target.project_id]
        values = read_project_values(conn, target.project_id)
        data = build_metrics_data(target, values, time.time_ns())
        result = exporter.export(data, timeout_millis=self.export_seconds * 1000)
        error = None if result is MetricExportResult.SUCCESS else f"export to {url} failed"
        self._log_outcome(target.project_id, url, error)
        conn.execute(
            queries.load("telemetry/record_export_result"),
            {"project_id": target.project_id, "error": error},
        )

    def _log_outcome(self, project_id: int, url: str, error: str | None) -> None:
        # Log changes of state only; a collector that stays down would otherwise write
        # one line per project and interval.
        if error and project_id not in self.failing:
            self.failing.add(project_id)
            logger.warning(
                "OTLP export of project %s to %s failed; retrying every interval until it succeeds",
                project_id,
                url,
            )
        elif error:
            logger.debug("OTLP export of project %s to %s failed again", project_id, url)
        elif project_id in self.failing:
            self.failing.discard(project_id)
            logger.info("OTLP export of project %s to %s succeeded again", project_id, url)


def run_exporter(database_url: str, stop: threading.Event, interval_seconds: float) -> None:
    """Fold the telemetry totals and push every enabled project's metrics each interval.

    Blocks until `stop` is set, then returns after the export in progress (at most
    MAX_EXPORT_SECONDS for each remaining project). Every error is logged and the
    next cycle tries again. Run it in a thread of its own.
    """
    if interval_seconds <= 0:
        raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
    exporters = ProjectExporters(database_url, min(MAX_EXPORT_SECONDS, interval_seconds))
    logger.info("telemetry exporter started, interval %.1f s", interval_seconds)
    try:
        while not stop.is_set():
            started = time.monotonic()
            exporters.run_cycle(stop)
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - started)))
    finally:
        exporters.close()
        logger.info("telemetry exporter stopped")
