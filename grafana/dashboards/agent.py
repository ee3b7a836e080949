"""Agent detail: one agent's heartbeats, tokens, cost, tool calls, iterations and memory,
with its events as annotations."""

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import Dashboard, VariableRefresh

from clevagent_server.grafana.dashboards import panels
from clevagent_server.grafana.sqlquery import PostgresQuery
from clevagent_server.grafana.uids import AGENT_DASHBOARD_UID

# The variable's value is the agent id, because names are only unique within a project;
# its text is "project / agent".
AGENT_VARIABLE_SQL = """
SELECT a.id AS __value, p.name || ' / ' || a.name AS __text
FROM agents a
JOIN projects p ON p.id = a.project_id
ORDER BY p.name, a.name
"""

AGENT_FILTER = "agent_id = ${agent:sqlstring}"

STATE_SQL = """
SELECT p.name AS project,
       a.name AS agent,
       a.status,
       a.status_reason AS reason,
       a.last_heartbeat_at AS last_heartbeat,
       a.last_client_status AS client_status,
       a.last_message AS message,
       a.busy_until,
       a.busy_reason,
       a.warning->>'type' AS warning,
       a.warning->>'message' AS warning_message
FROM agents a
JOIN projects p ON p.id = a.project_id
WHERE a.id = ${agent:sqlstring}
"""


def _rollup_sql(select: str) -> str:
    """Return a time-series query over the agent's 1-minute rollup rows."""
    return f"""
SELECT $__timeGroupAlias(bucket, $__interval), {select}
FROM heartbeats_1m
WHERE {AGENT_FILTER} AND $__timeFilter(bucket)
GROUP BY 1
ORDER BY 1
"""


HEARTBEATS_SQL = _rollup_sql("sum(heartbeats) AS heartbeats")
TOKENS_SQL = _rollup_sql(
    "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
    "sum(tokens_used) AS tokens_used"
)
COST_SQL = _rollup_sql("sum(cost_usd) AS cost_usd")
TOOL_CALLS_SQL = _rollup_sql("sum(tool_calls) AS tool_calls")
ITERATIONS_SQL = _rollup_sql("max(max_iteration) AS iteration")

# Memory is a gauge, not a counter, so the rollups do not carry it: read the raw rows.
MEMORY_SQL = f"""
SELECT $__timeGroupAlias(time, $__interval), avg(memory_mb) AS memory_mb
FROM heartbeats
WHERE {AGENT_FILTER} AND $__timeFilter(time) AND memory_mb IS NOT NULL
GROUP BY 1
ORDER BY 1
"""

EVENTS_SQL = f"""
SELECT time, type, severity, signal, value, threshold, message
FROM agent_events
WHERE {AGENT_FILTER} AND $__timeFilter(time)
ORDER BY time DESC
LIMIT 500
"""

# Grafana's SQL annotations read the columns time, text and tags (comma-separated).
ANNOTATIONS_SQL = f"""
SELECT time,
       type || coalesce(': ' || message, '') AS text,
       type || ',' || severity AS tags
FROM agent_events
WHERE {AGENT_FILTER} AND $__timeFilter(time)
ORDER BY time
"""


def agent_variable() -> dash.QueryVariable:
    return (
        dash.QueryVariable("agent")
        .label("Agent")
        .datasource(panels.datasource())
        .query(AGENT_VARIABLE_SQL.strip())
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(False)
        .include_all(False)
    )


def events_annotation() -> dash.AnnotationQuery:
    return (
        dash.AnnotationQuery()
        .name("Agent events")
        .datasource(panels.datasource())
        .enable(True)
        .icon_color("orange")
        .target(PostgresQuery(ANNOTATIONS_SQL).ref_id("Anno"))  # type: ignore[arg-type]
    )


def build() -> Dashboard:
    return (
        panels.base_dashboard(
            AGENT_DASHBOARD_UID,
            "ClevAgent agent detail",
            "One agent over time; its events are drawn as annotations on every graph.",
        )
        .with_variable(agent_variable())
        .annotation(events_annotation())
        .with_panel(panels.table_panel("Current state", STATE_SQL, height=4))
        .with_panel(panels.timeseries_panel("Heartbeats", HEARTBEATS_SQL, "short"))
        .with_panel(panels.timeseries_panel("Tokens", TOKENS_SQL, "short"))
        .with_panel(panels.timeseries_panel("Cost", COST_SQL, "currencyUSD"))
        .with_panel(panels.timeseries_panel("Tool calls", TOOL_CALLS_SQL, "short"))
        .with_panel(panels.timeseries_panel("Iterations", ITERATIONS_SQL, "none"))
        .with_panel(panels.timeseries_panel("Memory", MEMORY_SQL, "decmbytes"))
        .with_panel(panels.table_panel("Events", EVENTS_SQL))
        .build()
    )
