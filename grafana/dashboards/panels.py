"""Panel, variable and link helpers shared by the dashboards."""

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from clevagent_server.grafana.sqlquery import PostgresQuery
from clevagent_server.grafana.uids import AGENT_DASHBOARD_UID, DATASOURCE_TYPE, DATASOURCE_UID

# The rollups hold one row per agent and minute, so finer buckets only add empty points.
MIN_INTERVAL = "1m"

# Projects are filtered with IN (...): sqlstring quotes each value and doubles its quotes,
# the same on every Grafana version (the default format for single values changed in 12.x).
PROJECT_FILTER = "p.name IN (${project:sqlstring})"

# A link from any row that has an agent_id column to that agent's dashboard.
AGENT_LINK = {
    "title": "Agent detail",
    "url": f"/d/{AGENT_DASHBOARD_UID}?var-agent=${{__data.fields.agent_id}}&${{__url_time_range}}",
}


def datasource() -> DataSourceRef:
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


def project_variable() -> dash.QueryVariable:
    """Return the multi-value project variable (All selected by default)."""
    return (
        dash.QueryVariable("project")
        .label("Project")
        .datasource(datasource())
        .query("SELECT name FROM projects ORDER BY name")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def timeseries_panel(title: str, sql: str, unit: str, width: int = 12) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(datasource())
        .with_target(PostgresQuery(sql).time_series())
        .interval(MIN_INTERVAL)
        .unit(unit)
        .fill_opacity(10)
        .span(width)
        .height(8)
    )


def stat_panel(title: str, sql: str, unit: str, width: int = 6) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(datasource())
        .with_target(PostgresQuery(sql))
        .unit(unit)
        .span(width)
        .height(4)
    )


def table_panel(title: str, sql: str, width: int = 24, height: int = 10) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .datasource(datasource())
        .with_target(PostgresQuery(sql))
        .span(width)
        .height(height)
    )


def link_agent_column(panel: table.Panel, column: str = "agent") -> table.Panel:
    """Make a table's agent column open the agent dashboard, and hide the agent_id column."""
    return panel.override_by_name(
        column, [DynamicConfigValue(id_val="links", value=[AGENT_LINK])]
    ).override_by_name("agent_id", [DynamicConfigValue(id_val="custom.hidden", value=True)])


def base_dashboard(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["clevagent"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .link(
            dash.DashboardLink("ClevAgent")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["clevagent"])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
    )


def unit(name: str) -> DynamicConfigValue:
    """Return an override property that sets a column's unit."""
    return DynamicConfigValue(id_val="unit", value=name)
