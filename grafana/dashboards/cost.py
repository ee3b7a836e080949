"""Cost: spend by project, agent and day, against the daily budgets.

Calls whose price is unknown (no price for the model) and calls whose usage never arrived
are counted separately, because the dollar figures leave them out.
"""

from grafana_foundation_sdk.models.dashboard import Dashboard

from clevagent_server.grafana.dashboards import panels
from clevagent_server.grafana.dashboards.fleet import TODAY_START
from clevagent_server.grafana.uids import COST_DASHBOARD_UID

# A day in the project's budget timezone, as the timestamp of its local midnight.
LOCAL_DAY = (
    "date_trunc('day', h.bucket AT TIME ZONE p.budget_timezone) AT TIME ZONE p.budget_timezone"
)

TOTALS_SQL = f"""
SELECT coalesce(sum(h.cost_usd), 0) AS cost_usd,
       coalesce(sum(h.llm_calls), 0) AS llm_calls,
       coalesce(sum(h.unpriced_calls), 0) AS unpriced_calls,
       coalesce(sum(h.unknown_usage_calls), 0) AS unknown_usage_calls
FROM heartbeats_1m h
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
"""

COST_BY_PROJECT_DAY_SQL = f"""
SELECT {LOCAL_DAY} AS "time", p.name AS project, sum(h.cost_usd) AS cost_usd
FROM heartbeats_1m h
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
GROUP BY 1, 2
ORDER BY 1
"""

COST_BY_AGENT_SQL = f"""
SELECT a.id AS agent_id,
       p.name AS project,
       a.name AS agent,
       sum(h.cost_usd) AS cost_usd,
       sum(h.tokens_used) AS tokens,
       sum(h.llm_calls) AS llm_calls,
       sum(h.unpriced_calls) AS unpriced_calls,
       sum(h.unknown_usage_calls) AS unknown_usage_calls
FROM heartbeats_1m h
JOIN agents a ON a.id = h.agent_id
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
GROUP BY a.id, p.name, a.name
ORDER BY cost_usd DESC NULLS LAST
"""

COST_BY_AGENT_DAY_SQL = f"""
SELECT (h.bucket AT TIME ZONE p.budget_timezone)::date AS day,
       a.id AS agent_id,
       p.name AS project,
       a.name AS agent,
       sum(h.cost_usd) AS cost_usd,
       a.daily_budget_usd AS budget_usd,
       sum(h.cost_usd) > a.daily_budget_usd AS over_budget
FROM heartbeats_1m h
JOIN agents a ON a.id = h.agent_id
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
GROUP BY 1, a.id, p.name, a.name, a.daily_budget_usd
ORDER BY day DESC, cost_usd DESC NULLS LAST
"""

# Today's spend against both budgets: one row per project (agent empty), then per agent.
BUDGETS_TODAY_SQL = f"""
SELECT NULL::bigint AS agent_id,
       p.name AS project,
       '' AS agent,
       coalesce(sum(h.cost_usd), 0) AS cost_today_usd,
       p.daily_budget_usd AS budget_usd,
       100 * coalesce(sum(h.cost_usd), 0) / nullif(p.daily_budget_usd, 0) AS budget_used_percent
FROM projects p
LEFT JOIN heartbeats h ON h.project_id = p.id AND h.time >= {TODAY_START}
WHERE {panels.PROJECT_FILTER}
GROUP BY p.id, p.name, p.daily_budget_usd
UNION ALL
SELECT a.id,
       p.name,
       a.name,
       coalesce(sum(h.cost_usd), 0),
       a.daily_budget_usd,
       100 * coalesce(sum(h.cost_usd), 0) / nullif(a.daily_budget_usd, 0)
FROM agents a
JOIN projects p ON p.id = a.project_id
LEFT JOIN heartbeats h ON h.agent_id = a.id AND h.time >= {TODAY_START}
WHERE a.enabled AND {panels.PROJECT_FILTER}
GROUP BY a.id, p.name, a.name, a.daily_budget_usd
ORDER BY budget_used_percent DESC NULLS LAST, project, agent
"""

UNPRICED_SQL = f"""
SELECT $__timeGroupAlias(h.bucket, $__interval),
       sum(h.llm_calls) AS llm_calls,
       sum(h.unpriced_calls) AS unpriced_calls,
       sum(h.unknown_usage_calls) AS unknown_usage_calls
FROM heartbeats_1m h
JOIN projects p ON p.id = h.project_id
WHERE $__timeFilter(h.bucket) AND {panels.PROJECT_FILTER}
GROUP BY 1
ORDER BY 1
"""


def build() -> Dashboard:
    usd = [panels.unit("currencyUSD")]
    by_agent = panels.link_agent_column(
        panels.table_panel("Cost by agent", COST_BY_AGENT_SQL, width=12)
        .override_by_name("cost_usd", usd)
    )
    by_agent_day = panels.link_agent_column(
        panels.table_panel("Cost by agent and day", COST_BY_AGENT_DAY_SQL, width=12)
        .override_by_name("cost_usd", usd)
        .override_by_name("budget_usd", usd)
    )
    budgets = panels.link_agent_column(
        panels.table_panel("Today against budgets", BUDGETS_TODAY_SQL)
        .override_by_name("cost_today_usd", usd)
        .override_by_name("budget_usd", usd)
        .override_by_name("budget_used_percent", [panels.unit("percent")])
    )
    return (
        panels.base_dashboard(
            COST_DASHBOARD_UID,
            "ClevAgent cost",
            "Spend by project, agent and day against the daily budgets. Unpriced calls and "
            "calls with unknown usage are not in the dollar figures, so they are shown apart.",
        )
        .with_variable(panels.project_variable())
        .with_panel(
            panels.stat_panel("Totals in range", TOTALS_SQL, "none", width=24)
            .override_by_name("cost_usd", usd)
        )
        .with_panel(
            panels.timeseries_panel("Cost per day by project", COST_BY_PROJECT_DAY_SQL,
                                    "currencyUSD", width=24)
        )
        .with_panel(budgets)
        .with_panel(by_agent)
        .with_panel(by_agent_day)
        .with_panel(
            panels.timeseries_panel("Unpriced and unknown-usage calls", UNPRICED_SQL, "short",
                                    width=24)
        )
        .build()
    )
