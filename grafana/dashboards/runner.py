"""Runner and restarts: restart events, crash loops and the command queue, per target."""

from grafana_foundation_sdk.models.dashboard import Dashboard

from clevagent_server.grafana.dashboards import panels
from clevagent_server.grafana.uids import RUNNER_DASHBOARD_UID

# restart_queued comes from the detectors, the others from the runner.
RESTART_TYPES = (
    "('restart_queued', 'restart_attempt', 'restart_succeeded', 'restart_failed', "
    "'crash_loop', 'gave_up', 'budget_stop')"
)

# The runner names its target in the event; older events fall back to the agent's settings.
TARGET = "coalesce(e.details->>'target', a.restart_target, a.name, '')"

RESTARTS_SQL = f"""
SELECT $__timeGroupAlias(e.time, $__interval), e.type, count(*) AS events
FROM agent_events e
JOIN projects p ON p.id = e.project_id
WHERE $__timeFilter(e.time) AND e.type IN {RESTART_TYPES} AND {panels.PROJECT_FILTER}
GROUP BY 1, 2
ORDER BY 1
"""

PER_TARGET_SQL = f"""
SELECT {TARGET} AS target,
       coalesce(e.details->>'type', a.restart_type, '') AS type,
       p.name AS project,
       a.id AS agent_id,
       a.name AS agent,
       count(*) FILTER (WHERE e.type = 'restart_attempt') AS attempts,
       count(*) FILTER (WHERE e.type = 'restart_succeeded') AS succeeded,
       count(*) FILTER (WHERE e.type = 'restart_failed') AS failed,
       count(*) FILTER (WHERE e.type = 'crash_loop') AS crash_loops,
       count(*) FILTER (WHERE e.type = 'gave_up') AS gave_up,
       max(e.time) AS last_event
FROM agent_events e
JOIN projects p ON p.id = e.project_id
LEFT JOIN agents a ON a.id = e.agent_id
WHERE $__timeFilter(e.time) AND e.type IN {RESTART_TYPES} AND {panels.PROJECT_FILTER}
GROUP BY 1, 2, p.name, a.id, a.name
ORDER BY attempts DESC, last_event DESC
"""

CRASH_LOOPS_SQL = f"""
SELECT e.time,
       p.name AS project,
       a.id AS agent_id,
       a.name AS agent,
       e.type,
       {TARGET} AS target,
       e.details->>'reason' AS reason,
       (e.details->>'exit_code')::integer AS exit_code,
       (e.details->>'attempt')::integer AS attempt,
       e.message
FROM agent_events e
JOIN projects p ON p.id = e.project_id
LEFT JOIN agents a ON a.id = e.agent_id
WHERE $__timeFilter(e.time) AND e.type IN ('crash_loop', 'gave_up', 'budget_stop')
  AND {panels.PROJECT_FILTER}
ORDER BY e.time DESC
LIMIT 500
"""

COMMANDS_SQL = f"""
SELECT c.created_at AS time,
       p.name AS project,
       a.id AS agent_id,
       a.name AS agent,
       c.action,
       c.type,
       c.target,
       c.reason,
       c.status,
       c.result,
       c.completed_at
FROM restart_commands c
JOIN projects p ON p.id = c.project_id
LEFT JOIN agents a ON a.id = c.agent_id
WHERE ($__timeFilter(c.created_at) OR c.status IN ('pending', 'delivered'))
  AND {panels.PROJECT_FILTER}
ORDER BY c.created_at DESC
LIMIT 500
"""

PENDING_SQL = f"""
SELECT count(*) FILTER (WHERE c.status = 'pending') AS pending,
       count(*) FILTER (WHERE c.status = 'delivered') AS delivered
FROM restart_commands c
JOIN projects p ON p.id = c.project_id
WHERE {panels.PROJECT_FILTER}
"""


def build() -> Dashboard:
    return (
        panels.base_dashboard(
            RUNNER_DASHBOARD_UID,
            "ClevAgent runner and restarts",
            "What the runners restarted, which targets crash-loop, and the restart commands "
            "waiting for a runner.",
        )
        .with_variable(panels.project_variable())
        .with_panel(panels.timeseries_panel("Restart events", RESTARTS_SQL, "short", width=18))
        .with_panel(panels.stat_panel("Queued commands", PENDING_SQL, "none", width=6))
        .with_panel(panels.link_agent_column(panels.table_panel("Per target", PER_TARGET_SQL)))
        .with_panel(panels.link_agent_column(panels.table_panel("Crash loops", CRASH_LOOPS_SQL)))
        .with_panel(
            panels.link_agent_column(panels.table_panel("Restart commands", COMMANDS_SQL))
        )
        .build()
    )
