"""One thread per target: check it, restart it, hold it stopped, and report what happened.

Each target has its own thread, so a restart that waits out a SIGTERM timeout or a
systemctl that hangs until its deadline delays only that target.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clevagent_runner.client import Outbox
from clevagent_runner.config import TargetConfig
from clevagent_runner.liveness import (
    ALIVE,
    BLOCKED,
    DEAD,
    STARTING,
    ActionError,
    Driver,
    Liveness,
)
from clevagent_runner.policy import RestartPolicy
from clevagent_runner.state import Hold, StateStore

logger = logging.getLogger(__name__)

SEVERITY = {
    "restart_attempt": "info",
    "restart_succeeded": "info",
    "restart_failed": "warning",
    "crash_loop": "critical",
    "gave_up": "critical",
    "budget_stop": "warning",
    "stopped": "info",
    "hold_released": "info",
}
# A held target that comes back (its own supervisor started it) is stopped again, but
# not more often than this, so a stop that keeps failing does not spin.
RESTOP_INTERVAL = 60.0
# How often a worker checks while a restart awaits confirmation.
VERIFY_POLL = 0.25


@dataclass(frozen=True)
class Request:
    """Work for a worker from outside its thread: a server command, a budget stop, a reset."""

    kind: str
    reason: str
    command_id: int | None = None
    until: float | None = None
    event: str = "stopped"


@dataclass(frozen=True)
class Report:
    """The status and message of a target's next heartbeat."""

    status: str
    message: str
    memory_mb: float | None = None


@dataclass(frozen=True)
class Verification:
    """A restart waiting to be confirmed by a check that finds the target alive."""

    deadline: float
    attempt: int
    reason: str
    command_id: int | None


def iso(epoch: float) -> str:
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class TargetWorker:
    """Monitors one target in its own thread; other threads talk to it through submit()."""

    def __init__(self, config: TargetConfig, driver: Driver, outbox: Outbox, store: StateStore,
                 check_interval: float, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.driver = driver
        self.outbox = outbox
        self.store = store
        self.check_interval = check_interval
        self.clock = clock
        self.wall = wall
        self.policy = RestartPolicy(config)
        self.requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"watch {config.spec}", daemon=True)
        self.hold: Hold | None = store.load_hold(config.spec)
        self.verify: Verification | None = None
        self.last = Liveness(STARTING, "not checked yet")
        self.last_restop = -RESTOP_INTERVAL
        self.start_after_release: str | None = None
        self.report = Report("ok", "not checked yet")

    # -- thread control --------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def submit(self, request: Request) -> None:
        self.requests.put(request)
        self.wakeup.set()

    def request_stop(self) -> None:
        """Ask the thread to exit after the step it is in, which it finishes first."""
        self.stopping.set()
        self.wakeup.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def run(self) -> None:
        logger.info("target=%s agent=%s: watching", self.config.spec, self.config.agent)
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception:
                logger.exception("target=%s: step failed", self.config.spec)
            self.wakeup.wait(VERIFY_POLL if self.verify else self.check_interval)
            self.wakeup.clear()
        logger.info("target=%s: stopped watching", self.config.spec)

    # -- one step --------------------------------------------------------------------------

    def step(self) -> None:
        """Handle queued requests, check the target once, then act on what the check found."""
        self.handle_requests()
        self.release_expired_hold()
        liveness = self.driver.check()
        now = self.clock()
        self.observe(liveness, now)
        self.act(liveness, now)
        self.last = liveness
        self.publish(liveness)

    def handle_requests(self) -> None:
        while True:
            try:
                request = self.requests.get_nowait()
            except queue.Empty:
                return
            if request.kind == "restart":
                self.handle_restart_command(request)
            elif request.kind == "stop":
                self.hold_stopped(request)
            elif request.kind == "reset":
                self.reset(request.reason)

    def observe(self, liveness: Liveness, now: float) -> None:
        if self.verify is not None:
            self.observe_restart(liveness, now)
            return
        if liveness.alive:
            self.policy.on_alive(now)
        elif liveness.state == DEAD and self.last.state == ALIVE and self.hold is None:
            logger.warning("target=%s pid=%s: died: %s", self.config.spec, self.last.pid,
                           liveness.detail)
            if self.policy.on_death(now):
                self.report_crash_loop(liveness)
        if liveness.state == BLOCKED and self.last.state != BLOCKED and self.hold is None:
            logger.error("target=%s: cannot be restarted: %s", self.config.spec, liveness.detail)
            self.emit("gave_up", liveness.detail, liveness.exit_code)

    def observe_restart(self, liveness: Liveness, now: float) -> None:
        """Confirm or fail the pending restart from one check."""
        verify = self.verify
        assert verify is not None
        if liveness.alive:
            self.verify = None
            self.policy.on_alive(now)
            note = f"running again after attempt {verify.attempt} ({liveness.detail})"
            logger.info("target=%s pid=%s: %s", self.config.spec, liveness.pid, note)
            self.emit("restart_succeeded", verify.reason, None, verify.attempt)
            self.finish_command(verify.command_id, "completed", note)
            return
        if not self.restart_failed_now(liveness, now, verify):
            return
        self.verify = None
        why = liveness.detail if liveness.state != STARTING else (
            f"still starting {self.config.start_timeout:g}s after the restart")
        self.fail_restart(f"{verify.reason}; {why}", liveness.exit_code, verify.attempt,
                          verify.command_id, now)

    def restart_failed_now(self, liveness: Liveness, now: float, verify: Verification) -> bool:
        if now >= verify.deadline or liveness.state == BLOCKED:
            return True
        # A process without a relaunch command waits for its own supervisor, so it is
        # down for a while after a successful SIGTERM; only the deadline fails it.
        waits_for_supervisor = self.config.type == "process" and not self.config.relaunch
        return liveness.state == DEAD and not waits_for_supervisor

    def act(self, liveness: Liveness, now: float) -> None:
        if self.hold is not None:
            self.keep_stopped(liveness, now)
            return
        if self.verify is not None or self.policy.gave_up or liveness.state != DEAD:
            if liveness.alive:
                self.start_after_release = None
            return
        reason = self.start_after_release
        if reason is None and not self.config.auto_restart:
            return
        if self.policy.restart_due(now):
            self.start_after_release = None
            self.restart(reason or f"not running: {liveness.detail}", liveness.exit_code, None)

    # -- restarts --------------------------------------------------------------------------

    def restart(self, reason: str, exit_code: int | None, command_id: int | None) -> None:
        """Attempt one restart and start waiting for the target to come up."""
        attempt = self.policy.on_attempt(self.clock())
        logger.info("target=%s pid=%s: restart attempt %d: %s", self.config.spec, self.last.pid,
                    attempt, reason)
        self.emit("restart_attempt", reason, exit_code, attempt)
        try:
            note = self.driver.restart()
        except ActionError as exc:
            self.fail_restart(f"{reason}; {exc}", exit_code, attempt, command_id, self.clock())
            return
        logger.info("target=%s: %s", self.config.spec, note)
        deadline = self.clock() + self.config.start_timeout
        self.verify = Verification(deadline, attempt, reason, command_id)

    def fail_restart(self, reason: str, exit_code: int | None, attempt: int,
                     command_id: int | None, now: float) -> None:
        logger.warning("target=%s: restart attempt %d failed: %s", self.config.spec, attempt,
                       reason)
        self.emit("restart_failed", reason, exit_code, attempt)
        self.finish_command(command_id, "failed", reason)
        if self.policy.on_restart_failed(now):
            self.report_crash_loop(self.last)

    def report_crash_loop(self, liveness: Liveness) -> None:
        reason = (f"{len(self.policy.quick_exits)} quick exits within "
                  f"{self.config.crash_loop_window:g}s; gave up restarting until "
                  f"clevagent-runner reset {self.config.spec} or a restart command")
        logger.error("target=%s: crash loop: %s", self.config.spec, reason)
        self.emit("crash_loop", reason, liveness.exit_code, self.policy.attempt)

    def handle_restart_command(self, request: Request) -> None:
        """Restart on the server's request, ignoring backoff, a give-up and a hold."""
        if self.hold is not None:
            self.release_hold(f"restart command {request.command_id}", start=False)
        self.policy.reset()
        self.verify = None
        self.restart(request.reason, self.last.exit_code, request.command_id)

    def finish_command(self, command_id: int | None, status: str, message: str) -> None:
        if command_id is not None:
            self.outbox.add_result(command_id, status, message)

    # -- holds (budget stops and stop commands) ----------------------------------------------

    def hold_stopped(self, request: Request) -> None:
        """Stop the target and keep it stopped until request.until or a reset."""
        if self.hold is None:
            self.hold = Hold(self.config.spec, self.config.agent, request.reason, self.wall(),
                             request.until)
            self.store.save_hold(self.hold)
            logger.warning("target=%s: stopping and holding until %s: %s", self.config.spec,
                           iso(request.until) if request.until else "reset", request.reason)
            self.emit(request.event, request.reason, self.last.exit_code)
        self.verify = None
        try:
            note = self.driver.stop()
        except ActionError as exc:
            logger.error("target=%s: stop failed: %s", self.config.spec, exc)
            self.finish_command(request.command_id, "failed", str(exc))
            return
        self.last_restop = self.clock()
        self.finish_command(request.command_id, "completed", note)

    def keep_stopped(self, liveness: Liveness, now: float) -> None:
        if not liveness.alive or now - self.last_restop < RESTOP_INTERVAL:
            return
        logger.warning("target=%s pid=%s: running again while held; stopping it again",
                       self.config.spec, liveness.pid)
        self.last_restop = now
        try:
            self.driver.stop()
        except ActionError as exc:
            logger.error("target=%s: stop failed: %s", self.config.spec, exc)

    def release_expired_hold(self) -> None:
        hold = self.hold
        if hold is not None and hold.until is not None and self.wall() >= hold.until:
            self.release_hold("the budget day ended", start=True)

    def release_hold(self, why: str, start: bool) -> None:
        logger.info("target=%s: releasing hold (%s)", self.config.spec, why)
        self.hold = None
        self.store.delete_hold(self.config.spec)
        self.emit("hold_released", why, None)
        if start:
            self.start_after_release = why

    def reset(self, why: str) -> None:
        """Clear a hold, the backoff and a crash-loop give-up (`clevagent-runner reset`)."""
        logger.info("target=%s: reset (%s)", self.config.spec, why)
        if self.hold is not None:
            self.release_hold(why, start=True)
        else:
            self.start_after_release = why
        self.policy.reset()

    # -- reporting -------------------------------------------------------------------------

    def publish(self, liveness: Liveness) -> None:
        """Store the report the next heartbeat sends; a plain assignment, read by another thread."""
        self.report = self.describe(liveness)

    def describe(self, liveness: Liveness) -> Report:
        if self.hold is not None:
            until = (iso(self.hold.until) if self.hold.until
                     else f"clevagent-runner reset {self.config.spec}")
            return Report("error", f"stopped: {self.hold.reason}; held until {until}")
        if self.policy.gave_up and not liveness.alive:
            return Report("error", f"gave up after a crash loop ({liveness.detail}); run "
                                   f"clevagent-runner reset {self.config.spec}")
        status = "ok" if liveness.state in (ALIVE, STARTING) else "error"
        return Report(status, liveness.detail, liveness.memory_mb)

    def emit(self, event_type: str, reason: str, exit_code: int | None,
             attempt: int | None = None) -> None:
        details: dict[str, Any] = {"reason": reason, "exit_code": exit_code, "attempt": attempt,
                                   "target": self.config.target, "type": self.config.type}
        self.outbox.add_event({"agent": self.config.agent, "type": event_type,
                               "severity": SEVERITY.get(event_type, "info"),
                               "message": reason, "time": iso(self.wall()), "details": details})

    def heartbeat(self) -> dict[str, Any]:
        """Return this target's heartbeat item for the next batch."""
        report = self.report
        item: dict[str, Any] = {
            "agent": self.config.agent, "status": report.status, "message": report.message,
            "restart_type": self.config.type, "restart_target": self.config.target,
            "source": "runner", "timestamp": iso(self.wall()),
        }
        if report.memory_mb is not None:
            item["memory_mb"] = report.memory_mb
        return item
