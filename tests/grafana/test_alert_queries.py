"""Every alert query runs on both flavours as Grafana's alerting runs it (macros, no
dashboard variables), returns one row per alert instance with string labels and one
number, and fires for exactly the seeded agents in trouble."""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.grafana.queries import NUMBER_TYPES, STRING_TYPES, Result, alert_rules, run_alert
from tests.grafana.seed import ACME, OBRIEN, Seed

AGENT_LABELS = ["project", "agent", "agent_id"]

# uid: the label columns, then the value column.
EXPECTED_COLUMNS = {
    "clevagent-agent-dead": [*AGENT_LABELS, "silent_seconds"],
    "clevagent-agent-stuck": [*AGENT_LABELS, "seconds_without_progress"],
    "clevagent-loop-detected": [*AGENT_LABELS, "signal", "value"],
    "clevagent-token-spike": [*AGENT_LABELS, "spike_ratio"],
    "clevagent-agent-budget-exceeded": [*AGENT_LABELS, "budget_used_ratio"],
    "clevagent-project-budget-exceeded": ["project", "budget_used_ratio"],
    "clevagent-restart-storm": [*AGENT_LABELS, "target", "restart_attempts"],
    "clevagent-detector-stalled": ["seconds_since_last_run"],
}


@pytest.fixture(scope="module")
def conn(seeded: Seed) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded.url, autocommit=True) as connection:
        connection.execute("SET ROLE clevagent_grafana")
        yield connection
        # The TimescaleDB test server has one backend for all connections: undo the role.
        connection.execute("RESET ROLE")


def rule(uid: str) -> dict[str, Any]:
    return next(r for r in alert_rules() if r["uid"] == uid)


def instances(conn: psycopg.Connection, seed: Seed, uid: str) -> dict[tuple[str, ...], float]:
    """Return {labels: value} the way Grafana turns the rows into alert instances."""
    result = run_alert(conn, rule(uid), seed.flavour == "timescaledb")
    labels = [i for i, oid in enumerate(result.type_oids) if oid in STRING_TYPES]
    value = next(i for i, oid in enumerate(result.type_oids) if oid in NUMBER_TYPES)
    return {tuple(row[i] for i in labels): float(row[value]) for row in result.rows}


def test_rules_cover_every_alert() -> None:
    assert [r["uid"] for r in alert_rules()] == list(EXPECTED_COLUMNS)


def test_alert_columns_are_labels_and_one_number(conn: psycopg.Connection,
                                                 seeded: Seed) -> None:
    for alert in alert_rules():
        result: Result = run_alert(conn, alert, seeded.flavour == "timescaledb")
        assert result.columns == EXPECTED_COLUMNS[alert["uid"]], alert["uid"]
        *label_types, value_type = result.type_oids
        assert all(oid in STRING_TYPES for oid in label_types), alert["uid"]
        assert value_type in NUMBER_TYPES, alert["uid"]


def test_agent_dead(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-agent-dead")
    key = (ACME, "bravo", str(seeded.agent_ids["bravo"]))
    assert list(found) == [key]
    assert 600 <= found[key] <= 600 + 120


def test_agent_stuck(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-agent-stuck")
    key = (ACME, "delta", str(seeded.agent_ids["delta"]))
    assert list(found) == [key]
    assert 1200 <= found[key] <= 1200 + 120


def test_loop_detected(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-loop-detected")
    assert found == {(ACME, "charlie", str(seeded.agent_ids["charlie"]), "tool_call_rate"): 30.0}


def test_token_spike(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-token-spike")
    key = (ACME, "charlie", str(seeded.agent_ids["charlie"]))
    assert list(found) == [key]
    assert found[key] == pytest.approx(10.0)


def test_agent_budget_exceeded(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-agent-budget-exceeded")
    spent = seeded.cost_today("delta")
    if spent < 0.5:
        pytest.skip("the seeded spend of delta started before midnight UTC")
    assert found == {(ACME, "delta", str(seeded.agent_ids["delta"])): pytest.approx(spent / 0.5)}


def test_project_budget_exceeded(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-project-budget-exceeded")
    spent = seeded.project_cost_today(ACME)
    if spent < 1.0:
        pytest.skip("the seeded spend of acme started before midnight UTC")
    assert found == {(ACME,): pytest.approx(spent)}


def test_restart_storm(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-restart-storm")
    agent = "echo's runner"
    assert found == {(OBRIEN, agent, str(seeded.agent_ids[agent]), "echo-container"): 4.0}


def test_detector_stalled(conn: psycopg.Connection, seeded: Seed) -> None:
    found = instances(conn, seeded, "clevagent-detector-stalled")
    assert list(found) == [()]
    assert 600 <= found[()] <= 600 + 120


def test_quiet_fleet_returns_no_rows(seeded: Seed) -> None:
    """With every agent healthy and a fresh detector run, no rule returns a row, so
    noDataState decides, and it is OK."""
    with psycopg.connect(seeded.url) as conn:
        # The TimescaleDB test server shares one session between connections.
        conn.execute("RESET ROLE")
        conn.execute("UPDATE agents SET status = 'healthy', status_reason = NULL, warning = NULL")
        conn.execute("DELETE FROM agent_events")
        conn.execute("UPDATE agents SET daily_budget_usd = NULL")
        conn.execute("UPDATE projects SET daily_budget_usd = NULL")
        conn.execute("INSERT INTO detector_runs (started_at, finished_at) VALUES (now(), now())")
        conn.execute("SET ROLE clevagent_grafana")
        for alert in alert_rules():
            result = run_alert(conn, alert, seeded.flavour == "timescaledb")
            if alert["uid"] == "clevagent-token-spike":
                continue  # the seeded heartbeats still spike
            assert result.rows == [], alert["uid"]
        conn.rollback()
        conn.execute("SET ROLE clevagent_grafana")


def test_rules_treat_no_data_and_errors_as_quiet() -> None:
    for alert in alert_rules():
        assert alert["noDataState"] == "OK", alert["uid"]
        assert alert["execErrState"] == "KeepLast", alert["uid"]
