"""Status transitions: unknown, healthy, degraded, dead, and what does not change them."""

import random
from datetime import UTC, datetime, timedelta

from conftest import World

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
