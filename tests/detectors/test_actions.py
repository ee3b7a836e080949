"""Restart commands: one per episode, with the agent's restart type and target."""

from datetime import UTC, datetime, timedelta

from tests.detectors.world import World

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def test_dead_agent_gets_one_restart_per_episode(world: World) -> None:
    agent = world.agent(world.project(), auto_restart=True, restart_type="systemd",
                        restart_target="bot.service")
    world.run(T0, T0 + seconds(600), beats=[(T0, agent, {})])
    commands = world.commands(agent)
    assert [(c["action"], c["type"], c["target"], c["status"]) for c in commands] == [
        ("restart", "systemd", "bot.service", "pending")]
    assert commands[0]["reason"] == "agent dead: no heartbeat for 130 s"
    queued = world.events(agent, "restart_queued")
    assert len(queued) == 1
    assert queued[0]["details"]["command_id"] == commands[0]["id"]

    # It comes back, then dies again: a second episode, a second restart.
    world.run(T0 + seconds(610), T0 + seconds(1200), beats=[(T0 + seconds(605), agent, {})])
    assert len(world.commands(agent)) == 2


def test_no_restart_without_auto_restart(world: World) -> None:
    agent = world.agent(world.project())
    world.run(T0, T0 + seconds(300), beats=[(T0, agent, {})])
    assert world.agent_row(agent)["status"] == "dead"
    assert world.commands(agent) == []


def test_stuck_agent_gets_one_restart(world: World) -> None:
    agent = world.agent(world.project(), auto_restart=True)
    beats = [(T0 + seconds(s), agent, {"iteration_count": 3}) for s in range(0, 1200, 60)]
    world.run(T0, T0 + seconds(1190), beats=beats)
    commands = world.commands(agent)
    assert len(commands) == 1
    assert commands[0]["reason"].startswith("No progress: iteration 3 unchanged")


def test_agent_stopped_by_budget_is_not_restarted(world: World) -> None:
    agent = world.agent(world.project(), auto_restart=True, daily_budget_usd=1.0,
                        on_cost_exceeded="stop")
    world.run(T0, T0 + seconds(600), beats=[(T0, agent, {"cost_usd": 5.0})])
    assert world.agent_row(agent)["status"] == "dead"
    assert [c["action"] for c in world.commands(agent)] == ["stop"]
