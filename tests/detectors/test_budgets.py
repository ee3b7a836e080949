"""Daily cost budgets per agent and per project, in the project's budget timezone."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.detectors.world import World

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_agent_over_budget_gets_warning_and_event(world: World) -> None:
    agent = world.agent(world.project(), daily_budget_usd=1.0)
    beats = [(T0 + minutes(n), agent, {"cost_usd": 0.3}) for n in range(4)]
    beats.append((T0 + minutes(5), agent, {"unpriced_calls": 2, "unknown_usage_calls": 1}))
    world.run(T0, T0 + minutes(6), beats=beats)

    started = world.events(agent, "budget_exceeded")
    assert len(started) == 1
    assert started[0]["signal"] == "daily_cost_agent"
    assert started[0]["value"] == pytest.approx(1.2)
    assert started[0]["threshold"] == 1.0
    row = world.agent_row(agent)
    assert row["status"] == "degraded"
    assert row["status_reason"] == "budget exceeded"
    assert row["warning"]["type"] == "cost_exceeded"
    assert row["warning"]["signal"] == "daily_cost_agent"
    assert "2 calls without a known price" in row["warning"]["message"]
    assert "1 calls whose usage never arrived" in row["warning"]["message"]


def test_unpriced_calls_are_in_event_details(world: World) -> None:
    agent = world.agent(world.project(), daily_budget_usd=0.5)
    beats = [(T0, agent, {"cost_usd": 0.6, "unpriced_calls": 3, "unknown_usage_calls": 4})]
    world.run(T0, T0 + minutes(2), beats=beats)
    details = world.events(agent, "budget_exceeded")[0]["details"]
    assert details["unpriced_calls"] == 3
    assert details["unknown_usage_calls"] == 4


def test_budget_stop_policy_queues_one_stop(world: World) -> None:
    agent = world.agent(world.project(), daily_budget_usd=1.0, on_cost_exceeded="stop",
                        restart_type="docker", restart_target="bot-1")
    beats = [(T0 + minutes(n), agent, {"cost_usd": 0.5}) for n in range(10)]
    world.run(T0, T0 + minutes(12), beats=beats)
    commands = world.commands(agent)
    assert [(c["action"], c["type"], c["target"]) for c in commands] == [
        ("stop", "docker", "bot-1")]
    queued = world.events(agent, "restart_queued")
    assert len(queued) == 1
    assert queued[0]["details"]["action"] == "stop"
    assert queued[0]["details"]["command_id"] == commands[0]["id"]


def test_alert_only_policy_queues_nothing(world: World) -> None:
    agent = world.agent(world.project(), daily_budget_usd=1.0)
    beats = [(T0 + minutes(n), agent, {"cost_usd": 0.5}) for n in range(4)]
    world.run(T0, T0 + minutes(5), beats=beats)
    assert world.commands(agent) == []


def test_budget_resets_at_local_midnight(world: World) -> None:
    project = world.project(timezone="Asia/Tokyo")
    agent = world.agent(project, daily_budget_usd=1.0)
    # 14:50 UTC is 23:50 in Tokyo; the budget day ends at 15:00 UTC.
    start = datetime(2026, 6, 1, 14, 50, tzinfo=UTC)
    world.run(start, start + minutes(20), beats=[(start, agent, {"cost_usd": 2.0})])
    assert len(world.events(agent, "budget_exceeded")) == 1
    reset = world.events(agent, "budget_reset")
    assert len(reset) == 1
    assert reset[0]["time"] == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    assert world.agent_row(agent)["warning"] is None


@pytest.mark.parametrize(
    ("day", "day_starts", "day_ends"),
    [
        # Clocks go forward: the 8th of March 2026 has 23 hours in New York.
        ("2026-03-08", datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC)),
        # Clocks go back: the 1st of November 2026 has 25 hours in New York.
        ("2026-11-01", datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC)),
    ],
)
def test_budget_day_follows_dst(world: World, day: str, day_starts: datetime,
                                day_ends: datetime) -> None:
    agent = world.agent(world.project(timezone="America/New_York"), daily_budget_usd=1.0)
    just = timedelta(minutes=10)
    beats = [
        (day_starts - just, agent, {"cost_usd": 0.6}),  # the day before
        (day_starts + just, agent, {"cost_usd": 0.6}),
        (day_ends - just, agent, {"cost_usd": 0.6}),
        (day_ends + just, agent, {"cost_usd": 0.6}),  # the day after
    ]
    # Cycles every half hour through the day, then every five minutes around its end.
    world.run(day_starts - minutes(30), day_ends - minutes(30), step=1800, beats=beats)
    world.run(day_ends - minutes(25), day_ends + minutes(30), step=300, beats=beats[2:])

    rows = world.conn.execute(
        "SELECT day::text, cost_usd FROM detector_daily_costs WHERE agent_id = %s ORDER BY day",
        (agent,),
    ).fetchall()
    assert [(r["day"], round(r["cost_usd"], 2)) for r in rows][1:] == [
        (day, 1.2), (str(day_ends.date()), 0.6)]
    exceeded = world.events(agent, "budget_exceeded")
    assert [e["details"]["day"] for e in exceeded] == [day]
    reset = world.events(agent, "budget_reset")
    assert len(reset) == 1
    assert reset[0]["time"] == day_ends


def test_project_budget_warns_every_agent(world: World) -> None:
    project = world.project(budget=1.0)
    calm = world.agent(project, "calm")
    stopper = world.agent(project, "stopper", on_cost_exceeded="stop")
    beats = [(T0, calm, {"cost_usd": 0.6}), (T0, stopper, {"cost_usd": 0.6})]
    world.run(T0, T0 + minutes(3), beats=beats)

    exceeded = world.events(kind="budget_exceeded")
    assert len(exceeded) == 1
    assert exceeded[0]["agent_id"] is None
    assert exceeded[0]["signal"] == "daily_cost_project"
    for agent in (calm, stopper):
        assert world.agent_row(agent)["warning"]["signal"] == "daily_cost_project"
    assert world.commands(calm) == []
    assert [c["action"] for c in world.commands(stopper)] == ["stop"]
