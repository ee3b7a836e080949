"""The ClevAgent dashboards, built with grafana-foundation-sdk."""

from collections.abc import Callable

from grafana_foundation_sdk.models.dashboard import Dashboard

from clevagent_server.grafana.dashboards import agent, cost, events, fleet, runner

# Every dashboard the stack provisions, as builder functions, in the order of the file names.
DASHBOARDS: tuple[Callable[[], Dashboard], ...] = (
    agent.build,
    cost.build,
    events.build,
    fleet.build,
    runner.build,
)
