"""A target's worker driving real processes: restarts, backoff, crash loops and holds.

The worker's clocks are fake so backoff and hold deadlines pass on command; the processes
are real, so every restart really kills and relaunches one.
"""

import os
import signal
import time
from pathlib import Path

import pytest

from clevagent_runner.client import Outbox
from clevagent_runner.config import TargetConfig
from clevagent_runner.process import ProcessDriver
from clevagent_runner.state import StateStore
from clevagent_runner.worker import Request, TargetWorker
from tests.runner.helpers import agent_command, alive, read_pid, wait_for

# The crashing agents below exit without writing the PID file, so no check can catch them
# alive for a moment and count a success.


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    def __init__(self, tmp_path: Path, processes) -> None:
        self.tmp_path = tmp_path
        self.processes = processes
        self.pidfile = tmp_path / "bot.pid"
        self.clock = FakeClock(1000.0)
        self.wall = FakeClock(time.time())
        self.outbox = Outbox()
        self.store = StateStore(tmp_path / "state")
        self.workers: list[TargetWorker] = []

    def worker(self, **options) -> TargetWorker:
        # start_timeout is on the fake clock, which step_until advances on every step, so
        # it is large enough that a slow start on a busy machine does not fail a restart.
        settings = {"relaunch": agent_command(self.pidfile), "stop_timeout": 0.5,
                    "start_timeout": 10_000.0, "backoff_initial": 1.0, "stable_seconds": 60.0}
        settings.update(options)
        config = TargetConfig(type="process", target=str(self.pidfile), agent="bot", **settings)
        worker = TargetWorker(config, ProcessDriver(config), self.outbox, self.store, 0.1,
                              clock=self.clock, wall=self.wall)
        self.workers.append(worker)
        return worker

    def step_until(self, worker: TargetWorker, condition, tick: float = 1.0,
                   timeout: float = 15.0) -> None:
        """Step the worker, advancing the fake clock by tick each time, until condition()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worker.step()
            if condition():
                return
            self.clock.advance(tick)
            time.sleep(0.05)
        pytest.fail(f"condition not met; events: {self.types()}")

    def types(self) -> list[str]:
        return [event["type"] for event in self.outbox.events]

    def events(self, event_type: str) -> list[dict]:
        return [event for event in self.outbox.events if event["type"] == event_type]

    def cleanup(self) -> None:
        for worker in self.workers:
            assert isinstance(worker.driver, ProcessDriver)
            for pid in worker.driver.children:
                self.processes.track(pid)
        pid = read_pid(self.pidfile)
        if pid:
            self.processes.track(pid)


@pytest.fixture
def harness(tmp_path, processes):
    running = Harness(tmp_path, processes)
    yield running
    running.cleanup()


def test_dead_target_started_on_first_step(harness):
    worker = harness.worker()

    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())

    assert alive(read_pid(harness.pidfile))
    assert worker.report.status == "ok"
    [attempt] = harness.events("restart_attempt")
    assert attempt["details"]["attempt"] == 1
    assert "does not exist" in attempt["details"]["reason"]


def test_killed_process_restarted_with_exit_code(harness):
    # exec: the agent replaces the shell, so its own exit status (-9) is reported
    # rather than the shell's 128 + 9.
    worker = harness.worker(relaunch="exec " + agent_command(harness.pidfile))
    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())
    first = read_pid(harness.pidfile)
    harness.clock.advance(120)  # a stable run, so the next restart is immediate
    worker.step()

    os.kill(first, signal.SIGKILL)
    harness.step_until(worker, lambda: len(harness.events("restart_succeeded")) == 2, tick=0)

    second = read_pid(harness.pidfile)
    assert second != first
    assert alive(second)
    attempt = harness.events("restart_attempt")[-1]
    assert attempt["details"] == {"reason": attempt["message"], "exit_code": -9, "attempt": 1,
                                  "target": str(harness.pidfile), "type": "process"}


def test_repeated_crashes_back_off(harness):
    worker = harness.worker(relaunch=agent_command("-", "--exit-after", "0",
                                                   "--exit-code", "3"),
                            crash_loop_exits=10)
    harness.step_until(worker, lambda: len(harness.events("restart_failed")) == 1, tick=0)
    delays = []
    for expected in range(2, 5):
        due = worker.policy.next_attempt_at
        delays.append(due - harness.clock())
        worker.step()
        assert len(harness.events("restart_attempt")) == expected - 1, "restarted before backoff"
        harness.clock.now = due
        harness.step_until(worker, lambda n=expected: len(harness.events("restart_failed")) == n,
                           tick=0)

    assert delays == [1.0, 2.0, 4.0]
    assert harness.events("restart_failed")[-1]["details"]["exit_code"] == 3


def test_crash_loop_reported_once_then_gives_up(harness):
    worker = harness.worker(relaunch=agent_command("-", "--exit-after", "0",
                                                   "--exit-code", "3"),
                            crash_loop_exits=3, crash_loop_window=300.0)

    harness.step_until(worker, lambda: "crash_loop" in harness.types(), tick=2.0)
    for _ in range(10):
        harness.clock.advance(100)
        worker.step()

    assert harness.types().count("crash_loop") == 1
    assert harness.types().count("restart_attempt") == 3
    assert worker.report.status == "error"
    assert "gave up" in worker.report.message
    assert "clevagent-runner reset" in worker.report.message


def test_reset_after_crash_loop_restarts(harness):
    worker = harness.worker(relaunch=agent_command("-", "--exit-after", "0"),
                            crash_loop_exits=2)
    harness.step_until(worker, lambda: "crash_loop" in harness.types(), tick=2.0)

    worker.submit(Request("reset", "test"))
    worker.step()

    assert harness.types().count("restart_attempt") == 3


def test_restart_command_kills_hung_process(harness):
    worker = harness.worker(relaunch=agent_command(harness.pidfile, "--ignore-term"))
    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())
    hung = read_pid(harness.pidfile)
    time.sleep(0.3)  # let the agent install its SIGTERM handler; nothing to poll for

    worker.submit(Request("restart", "command 7: no progress", command_id=7))
    harness.step_until(worker, lambda: len(harness.events("restart_succeeded")) == 2, tick=0)

    assert not alive(hung)
    assert alive(read_pid(harness.pidfile))
    [(command_id, status, message)] = list(harness.outbox.results)
    assert (command_id, status) == (7, "completed")
    assert "running again" in message


def test_auto_restart_off_leaves_target_dead(harness):
    worker = harness.worker(auto_restart=False)

    for _ in range(3):
        worker.step()

    assert harness.types() == []
    assert worker.report.status == "error"
    assert not harness.pidfile.exists()


def test_budget_stop_holds_across_runner_restart_until_reset(harness):
    worker = harness.worker()
    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())
    pid = read_pid(harness.pidfile)

    worker.submit(Request("stop", "cost_exceeded: $5.10 of $5.00", until=harness.wall() + 3600,
                          event="budget_stop"))
    worker.step()
    assert not alive(pid)
    assert harness.events("budget_stop")[0]["severity"] == "warning"

    # A new worker (as after a runner restart) keeps the hold it finds on disk.
    again = harness.worker()
    for _ in range(3):
        harness.clock.advance(100)
        again.step()
    assert harness.types().count("restart_attempt") == 1
    assert again.report.status == "error"
    assert again.report.message.startswith("stopped: cost_exceeded")

    again.submit(Request("reset", "clevagent-runner reset bot"))
    harness.step_until(again, lambda: harness.types().count("restart_succeeded") == 2)
    assert harness.store.load_hold(again.config.spec) is None


def test_hold_released_when_budget_day_ends(harness):
    worker = harness.worker(auto_restart=False)
    worker.submit(Request("stop", "cost_exceeded", until=harness.wall() + 10,
                          event="budget_stop"))
    worker.step()
    worker.step()
    assert "restart_attempt" not in harness.types()

    harness.wall.advance(11)
    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())

    assert "hold_released" in harness.types()
    assert alive(read_pid(harness.pidfile))


def test_stop_command_result_reported(harness):
    worker = harness.worker()
    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())

    worker.submit(Request("stop", "command 9: loop", command_id=9))
    worker.step()

    [(command_id, status, message)] = list(harness.outbox.results)
    assert (command_id, status) == (9, "completed")
    assert "SIGTERM" in message
    assert "stopped" in harness.types()


def test_heartbeat_item_fields(harness):
    worker = harness.worker()
    harness.step_until(worker, lambda: "restart_succeeded" in harness.types())

    item = worker.heartbeat()

    assert item["agent"] == "bot"
    assert item["status"] == "ok"
    assert item["message"].startswith("running (pid ")
    assert item["restart_type"] == "process"
    assert item["restart_target"] == str(harness.pidfile)
    assert item["source"] == "runner"
    assert item["memory_mb"] > 0


def test_worker_thread_stops_on_request(harness):
    worker = harness.worker(auto_restart=False)
    worker.start()
    wait_for(lambda: worker.report.message != "not checked yet")

    worker.request_stop()
    worker.join(5)

    assert not worker.thread.is_alive()
