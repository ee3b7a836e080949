"""Fleet overview: how many agents are in each status, and a table of all of them."""

from grafana_foundation_sdk.models.dashboard import Dashboard

from clevagent_server.grafana.dashboards import panels
from clevagent_server.grafana.sqlquery import TODAY_START_SQL
from clevagent_server.grafana.uids import FLEET_DASHBOARD_UID

TODAY_START = TODAY_START_SQL

STATUS_COUNTS_SQL = f"""
SELECT count(*) FILTER (WHERE a.status = 'healthy')  AS healthy,
       count(*) FILTER (WHERE a.status = 'degraded') AS degraded,
       count(*) FILTER (WHERE a.status = 'dead')     AS dead,
       count(*) FILTER (WHERE a.status = 'unknown')  AS unknown
FROM agents a
JOIN projects p ON p.id = a.project_id
WHERE a.enabled AND {panels.PROJECT_FILTER}
"""

AGENTS_SQL = f"""
SELECT a.id AS agent_id,
       p.name AS project,
       a.name AS agent,
       a.status,
       a.status_reason AS reason,
       a.last_heartbeat_at AS last_heartbeat,
       coalesce(today.tokens, 0) AS tokens_today,
       coalesce(today.cost_usd, 0) AS cost_today_usd,
       a.daily_budget_usd AS budget_usd
FROM agents a
JOIN projects p ON p.id = a.project_id
LEFT JOIN LATERAL (
    SELECT sum(h.tokens_used) AS tokens, sum(h.cost_usd) AS cost_usd
    FROM heartbeats h
    WHERE h.agent_id = a.id AND h.time >= {TODAY_START}
) today ON true
WHERE a.enabled AND {panels.PROJECT_FILTER}
ORDER BY CASE a.status WHEN 'dead' THEN 0 WHEN 'degraded' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END,
         p.name, a.name
"""

HEARTBEATS_SQL = f"""
SELECT $__timeGroupAlias(h.bucket, $__interval), p.name AS project, sum(h.heartbeats) AS heartbeats
FROM heartbeats_1m h
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
GROUP BY 1, 2
ORDER BY 1
"""

COST_SQL = f"""
SELECT $__timeGroupAlias(h.bucket, $__interval), p.name AS project, sum(h.cost_usd) AS cost_usd
FROM heartbeats_1m h
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
GROUP BY 1, 2
ORDER BY 1
"""


def build() -> Dashboard:
    agents_table = panels.link_agent_column(
        panels.table_panel("Agents", AGENTS_SQL, height=14)
        .override_by_name("cost_today_usd", [panels.unit("currencyUSD")])
        .override_by_name("budget_usd", [panels.unit("currencyUSD")])
    )
    return (
        panels.base_dashboard(
            FLEET_DASHBOARD_UID,
            "ClevAgent fleet overview",
            "Every agent's status, the reason for it, its last heartbeat and today's cost.",
        )
        .with_variable(panels.project_variable())
        .with_panel(panels.stat_panel("Agents by status", STATUS_COUNTS_SQL, "none", width=24))
        .with_panel(agents_table)
        .with_panel(panels.timeseries_panel("Heartbeats received", HEARTBEATS_SQL, "short"))
        .with_panel(panels.timeseries_panel("Cost", COST_SQL, "currencyUSD"))
        .build()
    )
