"""Loops and events: what the detectors found, over time and as a list."""

from grafana_foundation_sdk.models.dashboard import Dashboard

from clevagent_server.grafana.dashboards import panels
from clevagent_server.grafana.uids import EVENTS_DASHBOARD_UID

# The events that start a detection. no_progress_started carries no signal, so it is
# counted under "no_progress".
DETECTION_TYPES = "('loop_started', 'no_progress_started', 'budget_exceeded')"

DETECTIONS_SQL = f"""
SELECT $__timeGroupAlias(e.time, $__interval),
       coalesce(e.signal, replace(e.type, '_started', '')) AS signal,
       count(*) AS detections
FROM agent_events e
JOIN projects p ON p.id = e.project_id
WHERE $__timeFilter(e.time) AND e.type IN {DETECTION_TYPES} AND {panels.PROJECT_FILTER}
GROUP BY 1, 2
ORDER BY 1
"""

EVENTS_BY_TYPE_SQL = f"""
SELECT $__timeGroupAlias(e.time, $__interval), e.type, count(*) AS events
FROM agent_events e
JOIN projects p ON p.id = e.project_id
WHERE $__timeFilter(e.time) AND {panels.PROJECT_FILTER}
GROUP BY 1, 2
ORDER BY 1
"""

ACTIVE_WARNINGS_SQL = f"""
SELECT a.id AS agent_id,
       p.name AS project,
       a.name AS agent,
       a.warning->>'type' AS type,
       a.warning->>'signal' AS signal,
       (a.warning->>'value')::double precision AS value,
       (a.warning->>'threshold')::double precision AS threshold,
       a.warning->>'message' AS message
FROM agents a
JOIN projects p ON p.id = a.project_id
WHERE a.warning IS NOT NULL AND {panels.PROJECT_FILTER}
ORDER BY p.name, a.name
"""

RECENT_EVENTS_SQL = f"""
SELECT e.time,
       e.agent_id,
       p.name AS project,
       a.name AS agent,
       e.type,
       e.severity,
       e.signal,
       e.value,
       e.threshold,
       e.message
FROM agent_events e
JOIN projects p ON p.id = e.project_id
LEFT JOIN agents a ON a.id = e.agent_id
WHERE $__timeFilter(e.time) AND {panels.PROJECT_FILTER}
ORDER BY e.time DESC
LIMIT 1000
"""

# The detector's own heartbeat: one detector_runs row per cycle.
DETECTOR_AGE_SQL = """
SELECT extract(epoch FROM now() - max(finished_at)) AS seconds_since_last_run,
       count(*) FILTER (WHERE error IS NOT NULL AND $__timeFilter(started_at)) AS failed_runs
FROM detector_runs
"""

DETECTOR_DURATION_SQL = """
SELECT $__timeGroupAlias(started_at, $__interval),
       max(duration_seconds) AS max_duration_seconds,
       sum(agents_checked) / greatest(count(*), 1) AS agents_checked,
       sum(events_written) AS events_written
FROM detector_runs
WHERE $__timeFilter(started_at)
GROUP BY 1
ORDER BY 1
"""


def build() -> Dashboard:
    warnings = panels.link_agent_column(
        panels.table_panel("Active warnings", ACTIVE_WARNINGS_SQL, height=8)
    )
    recent = panels.link_agent_column(panels.table_panel("Events", RECENT_EVENTS_SQL, height=12))
    return (
        panels.base_dashboard(
            EVENTS_DASHBOARD_UID,
            "ClevAgent loops and events",
            "Loop, progress and budget detections over time, every event, and the detector "
            "cycle that writes them.",
        )
        .with_variable(panels.project_variable())
        .with_panel(panels.timeseries_panel("Detections by signal", DETECTIONS_SQL, "short"))
        .with_panel(panels.timeseries_panel("Events by type", EVENTS_BY_TYPE_SQL, "short"))
        .with_panel(warnings)
        .with_panel(recent)
        .with_panel(
            panels.stat_panel("Detector", DETECTOR_AGE_SQL, "none", width=8)
            .override_by_name("seconds_since_last_run", [panels.unit("s")])
        )
        .with_panel(
            panels.timeseries_panel("Detector cycles", DETECTOR_DURATION_SQL, "short", width=16)
            .override_by_name("max_duration_seconds", [panels.unit("s")])
        )
        .build()
    )
