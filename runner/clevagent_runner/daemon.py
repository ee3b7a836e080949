"""The main loop: batch heartbeats, server commands, reset requests and the outbox.

Everything that talks to the server runs here, in the main thread; the per-target worker
threads only check and act. The loop sleeps when nothing is due and stops on a flag that
SIGTERM and SIGINT set, after the workers finish the step they are in.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from clevagent_runner.client import MAX_BATCH, ApiClient, Outbox, Response
from clevagent_runner.config import RunnerConfig, TargetConfig
from clevagent_runner.docker import DockerDriver, EngineClient, socket_path
from clevagent_runner.launchd import LaunchdDriver
from clevagent_runner.liveness import Driver
from clevagent_runner.process import ProcessDriver
from clevagent_runner.state import StateStore, next_budget_day
from clevagent_runner.systemd import SystemdDriver
from clevagent_runner.worker import Request, TargetWorker

logger = logging.getLogger(__name__)

IDLE_WAIT = 1.0
SHUTDOWN_GRACE = 5.0
# Waits after failed sends, doubling from the first to the last.
RETRY_MIN, RETRY_MAX = 2.0, 60.0
# Command ids already handed to a worker, so a redelivered command runs once.
SEEN_COMMANDS_LIMIT = 1000


def make_driver(target: TargetConfig) -> Driver:
    if target.type == "docker":
        return DockerDriver(target, EngineClient(socket_path(os.environ)))
    if target.type == "systemd":
        return SystemdDriver(target)
    if target.type == "launchd":
        return LaunchdDriver(target)
    return ProcessDriver(target)


def normalise_target(watch_type: str, target: str) -> str:
    if watch_type == "systemd" and "." not in target:
        return target + ".service"
    if watch_type == "docker":
        return target.lstrip("/")
    return target


def parse_epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo else None


class Runner:
    """Drives the workers and all traffic with the server."""

    def __init__(self, config: RunnerConfig, client: ApiClient | None = None,
                 drivers: Callable[[TargetConfig], Driver] = make_driver,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.client = client or ApiClient(config.endpoint, config.api_key)
        self.store = StateStore(config.state_dir)
        self.outbox = Outbox()
        self.clock = clock
        self.stopping = threading.Event()
        self.workers = [
            TargetWorker(target, drivers(target), self.outbox, self.store, config.check_interval)
            for target in config.targets
        ]
        self.heartbeat_interval = config.heartbeat_interval
        self.next_heartbeat = 0.0
        self.next_commands = 0.0
        self.next_outbox = 0.0
        self.outbox_retry = RETRY_MIN
        self.seen_commands: dict[int, None] = {}
        self.warned: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.handle_signal)

    def handle_signal(self, signum: int, frame: object) -> None:
        logger.info("received %s; stopping after the work in progress", signal.Signals(signum).name)
        self.stopping.set()

    def run(self) -> None:
        logger.info("runner starting: %d targets, endpoint %s, heartbeat every %gs",
                    len(self.workers), self.config.endpoint, self.heartbeat_interval)
        for worker in self.workers:
            worker.start()
        while not self.stopping.is_set():
            self.step()
            self.stopping.wait(self.idle_wait())
        self.shutdown()

    def shutdown(self) -> None:
        """Let every worker finish its step, then send what the outbox holds, within a deadline."""
        for worker in self.workers:
            worker.request_stop()
        longest = max((w.config.stop_timeout + w.config.start_timeout for w in self.workers),
                      default=0.0)
        deadline = time.monotonic() + longest + SHUTDOWN_GRACE
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.next_outbox = 0.0
        self.flush_outbox()
        logger.info("runner stopped")

    def idle_wait(self) -> float:
        due = min(self.next_heartbeat, self.next_commands) - self.clock()
        return max(0.05, min(IDLE_WAIT, due))

    # -- steps -----------------------------------------------------------------------------

    def step(self) -> None:
        """Do whatever is due; each part is independent of the others' failures."""
        for part in (self.apply_reset_requests, self.send_heartbeats, self.poll_commands,
                     self.flush_outbox):
            try:
                part()
            except Exception:
                logger.exception("runner step %s failed", part.__name__)

    def apply_reset_requests(self) -> None:
        for name in self.store.take_reset_requests():
            matched = [w for w in self.workers if name in (w.config.spec, w.config.agent)]
            if not matched:
                logger.warning("reset request for %r matches no watched target", name)
            for worker in matched:
                worker.submit(Request("reset", f"clevagent-runner reset {name}"))

    def send_heartbeats(self) -> None:
        if self.clock() < self.next_heartbeat:
            return
        self.next_heartbeat = self.clock() + self.heartbeat_interval
        senders = [w for w in self.workers if w.config.heartbeat]
        for start in range(0, len(senders), MAX_BATCH):
            chunk = senders[start:start + MAX_BATCH]
            response = self.client.send_heartbeats([w.heartbeat() for w in chunk])
            if not response.ok:
                self.heartbeat_failed(response)
                return
            self.handle_heartbeat_results(chunk, response.body)

    def heartbeat_failed(self, response: Response) -> None:
        logger.warning("heartbeat batch failed: HTTP %s: %s", response.status,
                       self.detail(response))
        if response.retry_after:
            self.next_heartbeat = self.clock() + max(response.retry_after, 1.0)

    @staticmethod
    def detail(response: Response) -> str:
        body = response.body
        return str(body.get("detail") if isinstance(body, dict) else body)[:300]

    def handle_heartbeat_results(self, chunk: list[TargetWorker], body: Any) -> None:
        results = body.get("results", []) if isinstance(body, dict) else []
        for result in results:
            index = result.get("index")
            if not isinstance(index, int) or not 0 <= index < len(chunk):
                continue
            worker = chunk[index]
            if not result.get("received"):
                self.warn_once(f"rejected:{worker.config.spec}", "target=%s agent=%s: heartbeat "
                               "rejected: %s", worker.config.spec, worker.config.agent,
                               result.get("error"))
                continue
            self.apply_warning(worker, result.get("warning"))
        self.adopt_min_interval(body)

    def adopt_min_interval(self, body: Any) -> None:
        """Slow down to the plan's minimum interval when the server reports a larger one."""
        if not isinstance(body, dict):
            return
        found = [body.get("min_interval_seconds")]
        found += [r.get("min_interval_seconds") for r in body.get("results", [])
                  if isinstance(r, dict)]
        minimum = max((value for value in found if isinstance(value, int | float)), default=0)
        if minimum > self.heartbeat_interval:
            logger.warning("heartbeat interval %gs is below the plan's minimum of %gs; using %gs",
                           self.heartbeat_interval, minimum, minimum)
            self.heartbeat_interval = float(minimum)

    def apply_warning(self, worker: TargetWorker, warning: Any) -> None:
        """Stop a target whose agent exceeded its daily budget under a "stop" policy."""
        if not isinstance(warning, dict) or warning.get("type") != "cost_exceeded":
            return
        policy = worker.config.on_cost_exceeded
        server_says_stop = "stop" in (warning.get("action"), warning.get("on_cost_exceeded"),
                                      warning.get("policy"))
        if policy == "alert_only" or (policy == "server" and not server_says_stop):
            return
        if worker.hold is not None:
            return
        until = parse_epoch(warning.get("resets_at")) or next_budget_day(
            time.time(), self.config.budget_timezone)
        reason = warning.get("message") or "daily cost budget exceeded"
        worker.submit(Request("stop", f"cost_exceeded: {reason}", until=until,
                              event="budget_stop"))

    def warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self.warned:
            self.warned.add(key)
            logger.warning(message, *args)

    def poll_commands(self) -> None:
        if self.clock() < self.next_commands:
            return
        self.next_commands = self.clock() + self.heartbeat_interval
        agents = sorted({w.config.agent for w in self.workers})
        response = self.client.fetch_commands(agents)
        if not response.ok:
            logger.warning("fetching commands failed: HTTP %s: %s", response.status,
                           self.detail(response))
            return
        for command in response.body if isinstance(response.body, list) else []:
            if isinstance(command, dict) and isinstance(command.get("id"), int):
                self.dispatch(command)

    def dispatch(self, command: dict[str, Any]) -> None:
        """Hand one server command to the worker of its target, or reject it."""
        command_id = command["id"]
        if command_id in self.seen_commands:
            return
        self.remember(command_id)
        action = command.get("action")
        worker = self.find_worker(command)
        logger.info("command=%d action=%s agent=%s target=%s: received", command_id, action,
                    command.get("agent"), command.get("target"))
        if worker is None:
            self.outbox.add_result(command_id, "rejected",
                                   "no target watched by this runner matches the command")
            return
        if action not in ("restart", "stop"):
            self.outbox.add_result(command_id, "rejected", f"unknown action {action!r}")
            return
        reason = f"command {command_id}: {command.get('reason') or action}"
        if action == "restart":
            worker.submit(Request("restart", reason, command_id))
            return
        budget = "cost" in reason or "budget" in reason
        until = next_budget_day(time.time(), self.config.budget_timezone) if budget else None
        worker.submit(Request("stop", reason, command_id, until,
                              "budget_stop" if budget else "stopped"))

    def remember(self, command_id: int) -> None:
        self.seen_commands[command_id] = None
        while len(self.seen_commands) > SEEN_COMMANDS_LIMIT:
            del self.seen_commands[next(iter(self.seen_commands))]

    def find_worker(self, command: dict[str, Any]) -> TargetWorker | None:
        agent = command.get("agent")
        for worker in self.workers:
            if agent and worker.config.agent == agent:
                return worker
        watch_type, target = command.get("type"), command.get("target")
        if not isinstance(watch_type, str) or not isinstance(target, str):
            return None
        wanted = normalise_target(watch_type, target)
        for worker in self.workers:
            config = worker.config
            if config.type == watch_type and normalise_target(config.type, config.target) == wanted:
                return worker
        return None

    def flush_outbox(self) -> None:
        if self.outbox.empty() or self.clock() < self.next_outbox:
            return
        if self.flush_events() and self.flush_results():
            self.outbox_retry = RETRY_MIN
            return
        self.next_outbox = self.clock() + self.outbox_retry
        self.outbox_retry = min(RETRY_MAX, self.outbox_retry * 2)

    def flush_events(self) -> bool:
        """Send queued events in batches; return False if the server should be tried later."""
        while events := self.outbox.peek_events():
            response = self.client.send_events(events)
            if response.permanent_failure:
                logger.error("events rejected with HTTP %s, dropping %d: %s", response.status,
                             len(events), self.detail(response))
            elif not response.ok:
                logger.warning("sending %d events failed: HTTP %s: %s", len(events),
                               response.status, self.detail(response))
                return False
            self.outbox.drop_events(len(events))
        return True

    def flush_results(self) -> bool:
        while (result := self.outbox.next_result()) is not None:
            command_id, status, message = result
            response = self.client.send_result(command_id, status, message)
            if not response.ok and not response.permanent_failure:
                logger.warning("command=%d: sending result failed: HTTP %s: %s", command_id,
                               response.status, self.detail(response))
                return False
            if not response.ok:
                logger.warning("command=%d: result rejected with HTTP %s: %s", command_id,
                               response.status, self.detail(response))
            self.outbox.drop_result()
        return True
