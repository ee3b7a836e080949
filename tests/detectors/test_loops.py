"""Loop signals: tool-call rate, repeated messages and fingerprints, token spikes."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.detectors.world import World

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


Beat = tuple[datetime, int, dict[str, Any]]


def every(agent: int, start: datetime, count: int, step: float,
          fields: dict[str, Any] | list[dict[str, Any]]) -> list[Beat]:
    """Return `count` heartbeats `step` seconds apart; a list of fields is used in turn."""
    cycle = fields if isinstance(fields, list) else [fields]
    return [(start + timedelta(seconds=n * step), agent, dict(cycle[n % len(cycle)]))
            for n in range(count)]


def drive(world: World, beats: list[tuple[datetime, int, dict[str, Any]]],
          end_seconds: float, step: float = 10.0) -> None:
    world.run(T0, T0 + timedelta(seconds=end_seconds), step=step, beats=beats)


def test_tool_call_rate_over_limit_is_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    drive(world, every(agent, T0, 12, 10, {"tool_calls": 3}), 110)
    row = world.agent_row(agent)
    assert row["status"] == "degraded"
    assert row["status_reason"] == "loop: tool_call_rate"
    assert row["warning"]["type"] == "loop"
    assert row["warning"]["signal"] == "tool_call_rate"
    assert row["warning"]["value"] == 18
    assert row["warning"]["threshold"] == 10
    started = world.events(agent, "loop_started")
    assert len(started) == 1
    assert started[0]["signal"] == "tool_call_rate"


def test_tool_call_rate_at_limit_is_not_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    drive(world, every(agent, T0, 5, 60, {"tool_calls": 10}), 290)
    assert world.agent_row(agent)["warning"] is None
    assert world.events(agent, "loop_started") == []


def test_tool_call_rate_uses_agent_threshold(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10,
                        max_tool_calls_per_minute=50)
    drive(world, every(agent, T0, 12, 10, {"tool_calls": 3}), 110)
    assert world.agent_row(agent)["status"] == "healthy"


def test_identical_messages_with_tokens_is_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    fields = {"message": "searching the web", "tokens_used": 800}
    drive(world, every(agent, T0, 4, 10, fields), 35)
    assert world.agent_row(agent)["warning"] is None

    drive(world, every(agent, T0, 5, 10, fields)[4:], 45)
    warning = world.agent_row(agent)["warning"]
    assert warning["signal"] == "identical_messages"
    assert warning["value"] == 5
    assert warning["threshold"] == 5
    assert "5 times in a row" in warning["message"]


def test_idle_poller_is_not_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    drive(world, every(agent, T0, 30, 10, {"message": "waiting for jobs", "tokens_used": 0}), 295)
    row = world.agent_row(agent)
    assert row["status"] == "healthy"
    assert world.events(agent) == []


def test_ping_pong_messages_is_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    steps = [{"message": "plan", "tokens_used": 300}, {"message": "retry", "tool_calls": 1}]
    drive(world, every(agent, T0, 10, 10, steps), 95)
    started = world.events(agent, "loop_started")
    assert len(started) == 1
    assert started[0]["signal"] == "identical_messages"
    assert started[0]["details"]["period"] == 2
    assert started[0]["value"] == 5


def test_repeated_message_with_progress_is_not_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    beats = [(T0 + timedelta(seconds=10 * n), agent,
              {"message": "processing item", "tokens_used": 500, "iteration_count": n})
             for n in range(12)]
    drive(world, beats, 115)
    assert world.events(agent, "loop_started") == []


def test_repeated_fingerprints_is_loop(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    fields = {"fingerprints": ["9f2c", "9f2c", "9f2c"], "llm_calls": 3, "tokens_used": 900}
    drive(world, every(agent, T0, 2, 10, fields), 15)
    started = world.events(agent, "loop_started")
    assert len(started) == 1
    assert started[0]["details"]["source"] == "fingerprints"


def test_token_spike_fires_over_rolling_average(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    beats = every(agent, T0, 10, 60, {"tokens_used": 1000})
    beats.append((T0 + timedelta(seconds=600), agent, {"tokens_used": 5000}))
    drive(world, beats, 605, step=15)
    warning = world.agent_row(agent)["warning"]
    assert warning["signal"] == "token_spike"
    assert warning["value"] == 5.0
    assert warning["threshold"] == 3.0


def test_token_spike_below_multiplier_does_not_fire(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    beats = every(agent, T0, 10, 60, {"tokens_used": 1000})
    beats.append((T0 + timedelta(seconds=600), agent, {"tokens_used": 2900}))
    drive(world, beats, 605, step=15)
    assert world.agent_row(agent)["warning"] is None


def test_token_spike_needs_history(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=60)
    beats = every(agent, T0, 3, 60, {"tokens_used": 1000})
    beats.append((T0 + timedelta(seconds=180), agent, {"tokens_used": 50_000}))
    drive(world, beats, 185, step=15)
    assert world.agent_row(agent)["warning"] is None


def test_loop_episode_has_one_start_and_one_end(world: World) -> None:
    agent = world.agent(world.project(), expected_interval_seconds=10)
    looping = every(agent, T0, 12, 10, {"tool_calls": 5})
    calm = [(T0 + timedelta(seconds=120 + 10 * n), agent, {"tool_calls": 0}) for n in range(20)]
    drive(world, looping + calm, 310)

    assert len(world.events(agent, "loop_started")) == 1
    ended = world.events(agent, "loop_ended")
    assert len(ended) == 1
    assert ended[0]["signal"] == "tool_call_rate"
    row = world.agent_row(agent)
    assert row["warning"] is None
    assert row["status"] == "healthy"
