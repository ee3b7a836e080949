"""Status transitions: unknown, healthy, degraded, dead, and what does not change them."""

import random
from datetime import UTC, datetime, timedelta

from tests.detectors.world import World

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def test_agent_unknown_until_first_heartbeat(world: World) -> None:
    agent = world.agent(world.project())
    world.run(T0, T0 + seconds(300))
    row = world.agent_row(agent)
    assert row["status"] == "unknown"
    assert world.events(agent) == []


def test_silent_agent_dead_after_interval_plus_grace(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    world.cycle(T0)
    world.heartbeat(agent, T0 + seconds(1))
    world.run(T0 + seconds(10), T0 + seconds(120))
    assert world.agent_row(agent)["status"] == "degraded"

    world.run(T0 + seconds(130), T0 + seconds(140))
    row = world.agent_row(agent)
    assert row["status"] == "dead"
    assert row["status_reason"] == "no heartbeat for 129 s"
    changes = world.events(agent, "status_changed")
    assert [e["details"]["to"] for e in changes] == ["degraded", "dead"]
    assert changes[-1]["severity"] == "critical"


def test_dead_agent_recovers_on_heartbeat(world: World) -> None:
    agent = world.agent(world.project())
    world.cycle(T0)
    world.heartbeat(agent, T0)
    world.run(T0 + seconds(10), T0 + seconds(200))
    assert world.agent_row(agent)["status"] == "dead"

    world.heartbeat(agent, T0 + seconds(205))
    world.cycle(T0 + seconds(210))
    row = world.agent_row(agent)
    assert row["status"] == "healthy"
    assert row["status_reason"] is None
    assert world.events(agent, "status_changed")[-1]["details"] == {
        "from": "dead", "to": "healthy", "reason": None}


def test_jittered_heartbeats_never_flap(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    jitter = random.Random(7)
    beats = []
    at = T0
    while at < T0 + timedelta(minutes=20):
        beats.append((at, agent, {}))
        at += seconds(60 + jitter.uniform(-8, 8))
    world.run(T0, T0 + timedelta(minutes=20), beats=beats)
    assert world.agent_row(agent)["status"] == "healthy"
    assert world.events(agent) == []


def test_error_heartbeat_is_degraded_not_dead(world: World) -> None:
    agent = world.agent(world.project())
    world.cycle(T0)
    beats = [(T0 + seconds(s), agent, {"status": "error"}) for s in range(0, 600, 60)]
    world.run(T0, T0 + seconds(600), beats=beats)
    row = world.agent_row(agent)
    assert row["status"] == "degraded"
    assert row["status_reason"] == "client status error"


def test_warning_heartbeat_recovers_on_ok(world: World) -> None:
    agent = world.agent(world.project())
    beats = [(T0, agent, {"status": "warning"}), (T0 + seconds(60), agent, {})]
    world.run(T0, T0 + seconds(30), beats=beats[:1])
    assert world.agent_row(agent)["status_reason"] == "client status warning"
    world.run(T0 + seconds(60), T0 + seconds(70), beats=beats[1:])
    assert world.agent_row(agent)["status"] == "healthy"


def test_stalled_iteration_is_no_progress(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    beats = [(T0 + seconds(s), agent, {"iteration_count": 7}) for s in range(0, 900, 60)]
    world.run(T0, T0 + seconds(290), beats=beats)
    assert world.agent_row(agent)["status"] == "healthy"

    world.run(T0 + seconds(300), T0 + seconds(320), beats=beats)
    row = world.agent_row(agent)
    assert row["status"] == "degraded"
    assert row["status_reason"] == "no progress"
    assert row["warning"]["type"] == "no_progress"
    assert len(world.events(agent, "no_progress_started")) == 1

    world.heartbeat(agent, T0 + seconds(330), iteration_count=8)
    world.cycle(T0 + seconds(340))
    row = world.agent_row(agent)
    assert row["status"] == "healthy"
    assert row["warning"] is None
    assert len(world.events(agent, "no_progress_ended")) == 1


def test_advancing_iteration_stays_healthy(world: World) -> None:
    agent = world.agent(world.project())
    beats = [(T0 + seconds(s), agent, {"iteration_count": s}) for s in range(0, 900, 60)]
    world.run(T0, T0 + seconds(890), beats=beats)
    assert world.agent_row(agent)["status"] == "healthy"


def test_busy_agent_dead_only_after_deadline(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    beats = [(T0, agent, {"busy_seconds": 600, "iteration_count": 1})]
    world.run(T0, T0 + seconds(590), beats=beats)
    assert world.agent_row(agent)["status"] == "healthy"

    world.cycle(T0 + seconds(600))
    row = world.agent_row(agent)
    assert row["status"] == "dead"
    assert row["status_reason"] == "no heartbeat for 600 s"


def test_shutdown_heartbeat_is_a_requested_stop(world: World) -> None:
    agent = world.agent(world.project(), auto_restart=True)
    beats = [(T0, agent, {}), (T0 + seconds(60), agent, {"status": "shutdown"})]
    world.run(T0, T0 + timedelta(hours=1), step=30, beats=beats)
    row = world.agent_row(agent)
    assert row["status"] == "unknown"
    assert row["status_reason"] == "shutdown"
    assert len(world.events(agent, "agent_shutdown")) == 1
    assert world.events(agent, "status_changed")[-1]["severity"] == "info"
    assert world.commands(agent) == []


def test_monitor_downtime_raises_no_false_alarms(world: World) -> None:
    project = world.project()
    agents = [world.agent(project, f"bot-{n}") for n in range(5)]
    world.run(T0, T0 + seconds(50), beats=[(T0, a, {}) for a in agents])

    # The monitor (ingest and detector) is down for ten minutes; agents carry on after.
    restart = T0 + timedelta(minutes=10)
    beats = [(restart + seconds(s), a, {}) for a in agents[1:] for s in range(5, 300, 60)]
    world.run(restart, restart + seconds(80), beats=beats)
    assert [world.agent_row(a)["status"] for a in agents] == ["healthy"] * 5
    assert world.events(kind="status_changed") == []

    # The one agent that stayed silent is dead once it is silent long enough after.
    world.run(restart + seconds(90), restart + seconds(130), beats=beats)
    assert world.agent_row(agents[0])["status"] == "dead"
    assert all(world.agent_row(a)["status"] == "healthy" for a in agents[1:])


def test_disabled_agent_is_skipped(world: World) -> None:
    agent = world.agent(world.project(), enabled=False)
    world.run(T0, T0 + seconds(300), beats=[(T0, agent, {})])
    assert world.agent_row(agent)["status"] == "healthy"
    assert world.events(agent) == []
