"""The cycle itself: its lock, its failures, its own heartbeat and its upkeep."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from clevagent_server.detectors.cycle import CYCLE_LOCK_KEY, run_cycle
from tests.detectors.world import World

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def single_session_tier(database_url: str) -> bool:
    # The TimescaleDB build serves every connection from one PostgreSQL session, so
    # advisory locks never conflict there and concurrent transactions interleave.
    return "sslmode=disable" in database_url and "test:test@" in database_url


def test_two_cycles_at_once_write_once(world: World, database_url: str) -> None:
    if single_session_tier(database_url):
        pytest.skip("the TimescaleDB build runs one session: no concurrent cycles there")
    agent = world.agent(world.project(), auto_restart=True)
    world.run(T0, T0 + timedelta(seconds=120), beats=[(T0, agent, {})])

    barrier = threading.Barrier(2)
    results = []

    def cycle() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait(timeout=10)
            results.append(run_cycle(conn, now=T0 + timedelta(seconds=130)))

    threads = [threading.Thread(target=cycle) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert all(result.error is None for result in results)
    assert len(world.events(agent, "status_changed")) == 2  # healthy -> degraded -> dead
    assert len(world.commands(agent)) == 1


def test_cycle_skips_while_another_holds_lock(world: World, database_url: str) -> None:
    if single_session_tier(database_url):
        pytest.skip("the TimescaleDB build runs one session: advisory locks never conflict")
    world.agent(world.project())
    with psycopg.connect(database_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (CYCLE_LOCK_KEY,))
        result = run_cycle(world.conn, now=T0)
    assert result.ran is False
    assert world.conn.execute("SELECT count(*) AS n FROM detector_runs").fetchone() == {"n": 0}


def test_failing_query_declares_nobody_dead(world: World) -> None:
    agent = world.agent(world.project())
    world.run(T0, T0 + timedelta(seconds=120), beats=[(T0, agent, {})])

    # The cycle that would find the agent dead fails instead.
    world.conn.execute("ALTER TABLE detector_agent_signals RENAME TO signals_away")
    try:
        failed = run_cycle(world.conn, now=T0 + timedelta(seconds=130))
    finally:
        world.conn.execute("ALTER TABLE signals_away RENAME TO detector_agent_signals")
    assert failed.error is not None
    assert world.agent_row(agent)["status"] == "degraded"
    run = world.conn.execute("SELECT error FROM detector_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert run is not None and "detector_agent_signals" in run["error"]

    world.cycle(T0 + timedelta(seconds=140))
    assert world.agent_row(agent)["status"] == "dead"


def test_cycle_records_its_run(world: World) -> None:
    project = world.project()
    agents = [world.agent(project, f"bot-{n}") for n in range(3)]
    world.run(T0, T0 + timedelta(seconds=20), beats=[(T0, a, {}) for a in agents])
    runs = world.conn.execute("SELECT * FROM detector_runs ORDER BY id").fetchall()
    assert [r["started_at"] for r in runs] == [T0 + timedelta(seconds=s) for s in (0, 10, 20)]
    assert all(r["agents_checked"] == 3 and r["error"] is None for r in runs)
    assert all(r["finished_at"] >= r["started_at"] for r in runs)
    assert all(r["duration_seconds"] > 0 for r in runs)


def test_cycle_creates_heartbeat_partitions(world: World, database_url: str) -> None:
    world.cycle(T0)
    flavour = world.conn.execute("SELECT value FROM schema_info WHERE key = 'flavour'").fetchone()
    assert flavour is not None
    created = world.conn.execute(
        "SELECT to_regclass('heartbeats_free_p20260603') IS NOT NULL AS present"
    ).fetchone()
    assert created == {"present": flavour["value"] == "postgres"}


def test_upkeep_prunes_runner_tables(world: World) -> None:
    project = world.project()
    agent = world.agent(project)
    deliveries = {
        age: world.conn.execute(
            "INSERT INTO langfuse_deliveries (project_id, agent_id, status, received_at) "
            "VALUES (%s, %s, 'error', %s) RETURNING id",
            (project, agent, T0 - timedelta(days=age)),
        ).fetchone()["id"]
        for age in (31, 29)
    }

    def command(status: str, delivered_ago: timedelta, finished_ago: timedelta | None) -> int:
        finished_at = None
        if finished_ago is not None:
            finished_at = T0 - finished_ago
        row = world.conn.execute(
            "INSERT INTO restart_commands (project_id, agent_id, status, delivered_at, "
            "completed_at, deliveries) VALUES (%s, %s, %s, %s, %s, 1) RETURNING id",
            (project, agent, status, T0 - delivered_ago, finished_at),
        ).fetchone()
        return int(row["id"])

    unanswered = command("delivered", timedelta(hours=25), None)
    undelivered = world.conn.execute(
        "INSERT INTO restart_commands (project_id, agent_id, created_at) "
        "VALUES (%s, %s, %s) RETURNING id",
        (project, agent, T0 - timedelta(hours=25)),
    ).fetchone()["id"]
    waiting = world.conn.execute(
        "INSERT INTO restart_commands (project_id, agent_id, created_at) "
        "VALUES (%s, %s, %s) RETURNING id",
        (project, agent, T0 - timedelta(hours=2)),
    ).fetchone()["id"]
    in_flight = command("delivered", timedelta(hours=1), None)
    ancient = command("completed", timedelta(days=402), timedelta(days=401))
    recent_failure = command("failed", timedelta(days=399), timedelta(days=399))

    world.cycle(T0)

    remaining = {r["id"] for r in world.conn.execute("SELECT id FROM langfuse_deliveries")}
    assert remaining == {deliveries[29]}
    commands = {
        r["id"]: (r["status"], r["result"])
        for r in world.conn.execute("SELECT id, status, result FROM restart_commands")
    }
    assert commands[unanswered] == (
        "failed",
        "no result from a runner within a day of its delivery",
    )
    assert commands[undelivered] == ("failed", "no runner polled for it within a day")
    assert commands[waiting] == ("pending", None)
    assert commands[in_flight] == ("delivered", None)
    assert ancient not in commands
    assert commands[recent_failure] == ("failed", None)
