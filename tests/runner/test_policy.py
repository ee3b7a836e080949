"""Backoff and crash-loop bookkeeping, driven by an explicit clock."""

from clevagent_runner.config import TargetConfig
from clevagent_runner.policy import RestartPolicy


def policy(**options) -> RestartPolicy:
    defaults = {"backoff_initial": 5.0, "backoff_max": 40.0, "stable_seconds": 60.0,
                "crash_loop_exits": 5, "crash_loop_window": 300.0}
    defaults.update(options)
    return RestartPolicy(TargetConfig(type="process", target="x", agent="x", **defaults))


def test_first_restart_immediate():
    restarts = policy()

    assert restarts.restart_due(0.0)
    assert restarts.on_attempt(0.0) == 1


def test_backoff_doubles_up_to_cap():
    restarts = policy()
    now, waits = 0.0, []
    for _ in range(6):
        restarts.on_attempt(now)
        waits.append(restarts.next_attempt_at - now)
        now = restarts.next_attempt_at

    assert waits == [5.0, 10.0, 20.0, 40.0, 40.0, 40.0]


def test_not_due_before_backoff():
    restarts = policy()
    restarts.on_attempt(100.0)

    assert not restarts.restart_due(104.9)
    assert restarts.restart_due(105.0)


def test_backoff_resets_after_stable_period():
    restarts = policy()
    restarts.on_attempt(0.0)
    restarts.on_attempt(5.0)
    restarts.on_alive(6.0)
    restarts.on_alive(65.0)

    assert restarts.attempt == 2
    restarts.on_alive(66.0)
    assert restarts.attempt == 0
    assert restarts.restart_due(66.0)


def test_crash_loop_after_quick_exits_once():
    restarts = policy()
    loops = []
    for second in range(0, 50, 10):
        restarts.on_alive(float(second))
        loops.append(restarts.on_death(second + 2.0))

    assert loops == [False, False, False, False, True]
    assert restarts.gave_up
    assert not restarts.restart_due(1000.0)
    restarts.on_alive(1000.0)
    assert restarts.on_death(1001.0) is False


def test_slow_exits_not_a_crash_loop():
    restarts = policy()
    for start in range(0, 1000, 100):
        restarts.on_alive(float(start))
        assert restarts.on_death(start + 61.0) is False

    assert not restarts.gave_up


def test_quick_exits_outside_window_forgotten():
    restarts = policy(crash_loop_window=30.0)
    for start in range(0, 500, 100):
        restarts.on_alive(float(start))
        assert restarts.on_death(start + 1.0) is False


def test_failed_restarts_count_as_quick_exits():
    restarts = policy(crash_loop_exits=3)

    assert [restarts.on_restart_failed(t) for t in (1.0, 2.0, 3.0)] == [False, False, True]


def test_death_without_known_start_not_quick():
    restarts = policy(crash_loop_exits=1)

    assert restarts.on_death(5.0) is False


def test_reset_clears_give_up():
    restarts = policy(crash_loop_exits=1)
    restarts.on_restart_failed(1.0)
    restarts.reset()

    assert not restarts.gave_up
    assert restarts.restart_due(1.0)
    assert restarts.attempt == 0
