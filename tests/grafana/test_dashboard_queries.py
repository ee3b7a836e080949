"""Every dashboard query runs on both flavours after Grafana's expansion, and returns the
columns its panel reads and the numbers of the seeded fleet."""

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from tests.grafana.queries import (
    PanelQuery,
    Result,
    dashboard_context,
    panel_queries,
    run,
    run_panel,
)
from tests.grafana.seed import ACME, OBRIEN, Seed

ALL_PROJECTS = [ACME, OBRIEN]

# The columns each panel reads, by (dashboard uid, panel title).
REQUIRED_COLUMNS: dict[tuple[str, str], set[str]] = {
    ("clevagent-fleet", "Agents by status"): {"healthy", "degraded", "dead", "unknown"},
    ("clevagent-fleet", "Agents"): {"agent_id", "project", "agent", "status", "reason",
                                    "last_heartbeat", "tokens_today", "cost_today_usd"},
    ("clevagent-fleet", "Heartbeats received"): {"time", "project", "heartbeats"},
    ("clevagent-fleet", "Cost"): {"time", "project", "cost_usd"},
    ("clevagent-fleet", "variable project"): {"name"},
    ("clevagent-agent", "variable agent"): {"__value", "__text"},
    ("clevagent-agent", "annotation Agent events"): {"time", "text", "tags"},
    ("clevagent-agent", "Current state"): {"project", "agent", "status", "reason",
                                           "last_heartbeat"},
    ("clevagent-agent", "Heartbeats"): {"time", "heartbeats"},
    ("clevagent-agent", "Tokens"): {"time", "input_tokens", "output_tokens", "tokens_used"},
    ("clevagent-agent", "Cost"): {"time", "cost_usd"},
    ("clevagent-agent", "Tool calls"): {"time", "tool_calls"},
    ("clevagent-agent", "Iterations"): {"time", "iteration"},
    ("clevagent-agent", "Memory"): {"time", "memory_mb"},
    ("clevagent-agent", "Events"): {"time", "type", "severity", "signal", "message"},
    ("clevagent-cost", "variable project"): {"name"},
    ("clevagent-cost", "Totals in range"): {"cost_usd", "llm_calls", "unpriced_calls",
                                            "unknown_usage_calls"},
    ("clevagent-cost", "Cost per day by project"): {"time", "project", "cost_usd"},
    ("clevagent-cost", "Today against budgets"): {"agent_id", "project", "agent",
                                                  "cost_today_usd", "budget_usd",
                                                  "budget_used_percent"},
    ("clevagent-cost", "Cost by agent"): {"agent_id", "project", "agent", "cost_usd",
                                          "unpriced_calls", "unknown_usage_calls"},
    ("clevagent-cost", "Cost by agent and day"): {"day", "agent_id", "agent", "cost_usd",
                                                  "budget_usd", "over_budget"},
    ("clevagent-cost", "Unpriced and unknown-usage calls"): {"time", "llm_calls",
                                                             "unpriced_calls",
                                                             "unknown_usage_calls"},
    ("clevagent-events", "variable project"): {"name"},
    ("clevagent-events", "Detections by signal"): {"time", "signal", "detections"},
    ("clevagent-events", "Events by type"): {"time", "type", "events"},
    ("clevagent-events", "Active warnings"): {"agent_id", "agent", "type", "signal", "value",
                                              "threshold", "message"},
    ("clevagent-events", "Events"): {"time", "agent_id", "agent", "type", "severity"},
    ("clevagent-events", "Detector"): {"seconds_since_last_run", "failed_runs"},
    ("clevagent-events", "Detector cycles"): {"time", "max_duration_seconds"},
    ("clevagent-runner", "variable project"): {"name"},
    ("clevagent-runner", "Restart events"): {"time", "type", "events"},
    ("clevagent-runner", "Queued commands"): {"pending", "delivered"},
    ("clevagent-runner", "Per target"): {"target", "type", "agent_id", "agent", "attempts",
                                         "succeeded", "failed", "crash_loops", "last_event"},
    ("clevagent-runner", "Crash loops"): {"time", "agent_id", "agent", "target", "exit_code"},
    ("clevagent-runner", "Restart commands"): {"time", "agent_id", "agent", "status"},
}


@pytest.fixture(scope="module")
def conn(seeded: Seed) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded.url, autocommit=True) as connection:
        # Read as Grafana's role, so a missing grant fails here.
        connection.execute("SET ROLE clevagent_grafana")
        yield connection
        # The TimescaleDB test server has one backend for all connections: undo the role.
        connection.execute("RESET ROLE")


def macro_modes(seed: Seed) -> list[bool]:
    """Return the timescaledb settings to test: time_bucket needs the extension."""
    return [False, True] if seed.flavour == "timescaledb" else [False]


def find(title: str, dashboard: str) -> PanelQuery:
    matches = [q for q in panel_queries() if q.title == title and q.dashboard == dashboard]
    assert len(matches) == 1, f"{dashboard}: {len(matches)} queries titled {title!r}"
    return matches[0]


def panel(conn: psycopg.Connection, seed: Seed, dashboard: str, title: str,
          project: list[str] | str = ALL_PROJECTS, agent: str = "alpha") -> Result:
    ctx = dashboard_context(project, seed.agent_ids[agent], seed.flavour == "timescaledb")
    return run_panel(conn, find(title, dashboard), ctx)


def epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def test_every_query_has_required_columns() -> None:
    found = {(q.dashboard, q.title) for q in panel_queries()}
    assert found == set(REQUIRED_COLUMNS)


def test_variables_use_explicit_formats() -> None:
    for query in panel_queries():
        bare = re.findall(r"\$(?!__)\w+|\$\{(?!__)\w+\}", query.sql)
        assert not bare, f"{query.dashboard} {query.title}: {bare} without a format"


@pytest.mark.parametrize("project", [ALL_PROJECTS, [OBRIEN], ACME])
def test_every_panel_query_runs(conn: psycopg.Connection, seeded: Seed,
                                project: list[str] | str) -> None:
    for timescaledb in macro_modes(seeded):
        ctx = dashboard_context(project, seeded.agent_ids["alpha"], timescaledb)
        for query in panel_queries():
            result = run_panel(conn, query, ctx)
            missing = REQUIRED_COLUMNS[(query.dashboard, query.title)] - set(result.columns)
            assert not missing, f"{query.dashboard} {query.title}: missing {missing}"
            if query.format == "time_series":
                times = [epoch(row[result.columns.index("time")]) for row in result.rows]
                assert times == sorted(times), f"{query.title}: rows not sorted by time"


def test_fleet_status_counts(conn: psycopg.Connection, seeded: Seed) -> None:
    counts = panel(conn, seeded, "clevagent-fleet", "Agents by status").dicts()
    assert counts == [{"healthy": 2, "degraded": 2, "dead": 1, "unknown": 1}]

    acme = panel(conn, seeded, "clevagent-fleet", "Agents by status", project=ACME).dicts()
    assert acme == [{"healthy": 1, "degraded": 2, "dead": 1, "unknown": 1}]


def test_fleet_agents_table(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-fleet", "Agents").dicts()
    names = [row["agent"] for row in rows]
    assert names == ["bravo", "charlie", "delta", "golf", "alpha", "echo's runner"]

    by_name = {row["agent"]: row for row in rows}
    assert by_name["bravo"]["reason"] == "no heartbeat for 600 s"
    assert by_name["alpha"]["tokens_today"] == seeded.tokens_today("alpha")
    assert by_name["alpha"]["cost_today_usd"] == pytest.approx(seeded.cost_today("alpha"))
    assert by_name["echo's runner"]["project"] == OBRIEN
    assert by_name["golf"]["last_heartbeat"] is None
    assert by_name["delta"]["agent_id"] == seeded.agent_ids["delta"]


def test_fleet_quoted_project_alone(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-fleet", "Agents", project=OBRIEN).dicts()
    assert [row["agent"] for row in rows] == ["echo's runner"]


def test_agent_detail_sums(conn: psycopg.Connection, seeded: Seed) -> None:
    for timescaledb in macro_modes(seeded):
        ctx = dashboard_context(ALL_PROJECTS, seeded.agent_ids["charlie"], timescaledb)
        tokens = run_panel(conn, find("Tokens", "clevagent-agent"), ctx).dicts()
        assert len(tokens) == 60
        assert sum(row["tokens_used"] for row in tokens) == 5 * 1000 + 55 * 100
        assert sum(row["input_tokens"] for row in tokens) == 5 * 600 + 55 * 60

        iterations = run_panel(conn, find("Iterations", "clevagent-agent"), ctx).dicts()
        assert max(row["iteration"] for row in iterations) == 559


def test_agent_detail_memory_and_annotations(conn: psycopg.Connection, seeded: Seed) -> None:
    memory = panel(conn, seeded, "clevagent-agent", "Memory").dicts()
    assert max(row["memory_mb"] for row in memory) == 159.0

    notes = panel(conn, seeded, "clevagent-agent", "annotation Agent events", agent="charlie")
    assert [row["tags"] for row in notes.dicts()] == ["loop_started,warning"] * 2
    assert notes.dicts()[0]["text"] == "loop_started: 30 tool calls"


def test_agent_variable_lists_every_agent(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-agent", "variable agent").dicts()
    assert {row["__text"] for row in rows} >= {"acme / alpha", "o'brien labs / echo's runner"}
    assert len(rows) == 7


def test_cost_totals_show_unpriced_calls(conn: psycopg.Connection, seeded: Seed) -> None:
    totals = panel(conn, seeded, "clevagent-cost", "Totals in range").dicts()[0]
    expected_cost = sum(h.cost or 0 for h in seeded.heartbeats)
    assert totals["cost_usd"] == pytest.approx(expected_cost)
    assert totals["llm_calls"] == 60 + 30
    assert totals["unpriced_calls"] == 30
    assert totals["unknown_usage_calls"] == 20


def test_cost_by_agent(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = {r["agent"]: r for r in panel(conn, seeded, "clevagent-cost", "Cost by agent").dicts()}
    assert rows["charlie"]["cost_usd"] == pytest.approx(60 * 0.02)
    assert rows["echo's runner"]["cost_usd"] is None
    assert rows["echo's runner"]["unpriced_calls"] == 30


def test_cost_budgets_today(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-cost", "Today against budgets").dicts()
    project = next(r for r in rows if r["project"] == ACME and r["agent"] == "")
    assert project["cost_today_usd"] == pytest.approx(seeded.project_cost_today(ACME))
    assert project["budget_used_percent"] == pytest.approx(
        100 * seeded.project_cost_today(ACME) / 1.0
    )
    delta = next(r for r in rows if r["agent"] == "delta")
    assert delta["budget_used_percent"] == pytest.approx(100 * seeded.cost_today("delta") / 0.5)


def test_cost_per_day_matches_total(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-cost", "Cost per day by project").dicts()
    acme = sum(r["cost_usd"] for r in rows if r["project"] == ACME)
    assert acme == pytest.approx(sum(h.cost or 0 for h in seeded.heartbeats))


def test_detections_by_signal(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-events", "Detections by signal").dicts()
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["signal"]] = totals.get(row["signal"], 0) + row["detections"]
    assert totals == {"tool_call_rate": 1, "token_spike": 1, "no_progress": 1,
                      "daily_cost_agent": 1}


def test_active_warnings(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-events", "Active warnings").dicts()
    assert [(r["agent"], r["type"], r["value"]) for r in rows] == [
        ("charlie", "loop", 30.0), ("delta", "no_progress", 1200.0)
    ]


def test_detector_panel(conn: psycopg.Connection, seeded: Seed) -> None:
    row = panel(conn, seeded, "clevagent-events", "Detector").dicts()[0]
    assert 58 <= row["seconds_since_last_run"] <= 62 + 60
    assert row["failed_runs"] == 1


def test_restarts_per_target(conn: psycopg.Connection, seeded: Seed) -> None:
    rows = panel(conn, seeded, "clevagent-runner", "Per target").dicts()
    assert len(rows) == 1
    row = rows[0]
    assert (row["target"], row["type"], row["agent"]) == ("echo-container", "docker",
                                                          "echo's runner")
    assert (row["attempts"], row["succeeded"], row["failed"], row["crash_loops"]) == (4, 2, 0, 1)


def test_crash_loops_and_commands(conn: psycopg.Connection, seeded: Seed) -> None:
    loops = panel(conn, seeded, "clevagent-runner", "Crash loops").dicts()
    assert [(r["type"], r["exit_code"], r["attempt"]) for r in loops] == [("crash_loop", 1, 4)]

    queued = panel(conn, seeded, "clevagent-runner", "Queued commands").dicts()
    assert queued == [{"pending": 1, "delivered": 0}]

    acme_only = panel(conn, seeded, "clevagent-runner", "Restart commands", project=ACME)
    assert [r["agent"] for r in acme_only.dicts()] == ["bravo"]


def test_grafana_role_cannot_read_api_keys(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run(conn, "SELECT * FROM api_keys")
