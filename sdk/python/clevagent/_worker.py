"""The background thread that sends heartbeats, retries and backs off."""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from clevagent._actions import Actions
from clevagent._config import Config
from clevagent._state import Batch, State
from clevagent._transport import Outcome, post_heartbeat

logger = logging.getLogger("clevagent")

THREAD_NAME = "clevagent-heartbeat"
REQUEST_TIMEOUT = 10.0
FIRST_BACKOFF = 1.0
MIN_RETRY_SECONDS = 1.0
JITTER = 0.1

Sender = Callable[[str, str, dict[str, Any], float], Outcome]


class Worker:
    """Send a heartbeat every interval from a daemon thread until stopped.

    Only this thread talks to the server. The agent's threads touch nothing but State,
    so a slow or absent server never slows the agent down.
    """

    def __init__(self, config: Config, state: State, actions: Actions,
                 send: Sender = post_heartbeat) -> None:
        self.config = config
        self.state = state
        self.actions = actions
        self.send = send
        self.interval = config.interval
        self.failures = 0
        self.next_send = 0.0
        self.disabled = False
        self.stopping = False
        self.final_status = "shutdown"
        self.final_message: str | None = None
        self.wake_event = threading.Event()
        self.finished = threading.Event()
        self.reported: set[str] = set()
        self.thread = threading.Thread(target=self.run, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        """Send the next heartbeat now instead of at the end of the interval.

        While retrying, the backoff or the server's Retry-After keeps its hold.
        """
        if self.failures == 0:
            self.next_send = 0.0
            self.wake_event.set()

    def stop(self, timeout: float) -> bool:
        """Ask for the final heartbeat and wait for it at most timeout seconds.

        Return True if the worker finished in time.
        """
        self.stopping = True
        self.wake_event.set()
        if threading.current_thread() is self.thread:
            # Called from an action handler on this thread: nothing else will send.
            self.send_final(time.monotonic() + timeout)
            return True
        if not self.thread.is_alive():
            return self.finished.is_set()
        return self.finished.wait(timeout)

    def run(self) -> None:
        try:
            while not self.stopping and not self.disabled:
                self.sleep_until_due()
                if not self.stopping:
                    self.send_due()
            if self.stopping and not self.disabled:
                self.send_final(time.monotonic() + self.config.shutdown_timeout)
        except Exception:
            # A bug here must not surface in the agent: the thread ends and the agent runs on.
            logger.exception("heartbeat worker of agent %r failed", self.config.agent)
        finally:
            self.finished.set()

    def sleep_until_due(self) -> None:
        delay = self.next_send - time.monotonic()
        if delay > 0:
            self.wake_event.wait(delay)
        self.wake_event.clear()

    def send_due(self) -> None:
        retrying = self.failures > 0
        batch = self.state.take_batch()
        outcome = self.send(self.config.heartbeat_url, self.config.api_key,
                            self.payload(batch, None), REQUEST_TIMEOUT)
        self.handle(batch, outcome)

        # After an outage, send what piled up at once instead of one interval later.
        if outcome.kind == "ok" and retrying and self.state.has_pending_counters():
            self.next_send = 0.0

    def handle(self, batch: Batch, outcome: Outcome) -> None:
        now = time.monotonic()
        if outcome.kind == "ok":
            self.handle_ok(batch, outcome.body or {})
            self.next_send = now + self.jittered(self.interval)
        elif outcome.kind == "retry":
            self.failures += 1
            delay = outcome.retry_after
            if delay is None:
                delay = self.backoff()
            # A server that keeps answering "Retry-After: 0" must not get a tight loop.
            delay = max(delay, MIN_RETRY_SECONDS)
            self.next_send = now + delay
            logger.debug("heartbeat seq %s failed (%s), retrying in %.1f s",
                         batch.seq, outcome.error, delay)
            if outcome.status_code is None:
                # A wrong endpoint would otherwise fail in silence for the life of the agent.
                self.report_once("unreachable",
                                 "clevagent: cannot reach %s for agent %r (%s); heartbeats are "
                                 "kept and retried in the background",
                                 self.config.heartbeat_url, self.config.agent, outcome.error)
        elif outcome.kind == "unauthorized":
            self.disabled = True
            logger.error("clevagent: the server rejected the API key of agent %r (%s); "
                         "heartbeats stop until init() is called with a valid key",
                         self.config.agent, outcome.error)
        else:
            self.state.drop_batch(batch.seq, f"http_{outcome.status_code}")
            self.failures = 0
            self.next_send = now + self.jittered(self.interval)
            self.report_once(f"http_{outcome.status_code}",
                             "clevagent: the server rejected a heartbeat of agent %r: %s",
                             self.config.agent, outcome.error)

    def handle_ok(self, batch: Batch, body: dict[str, Any]) -> None:
        self.state.acknowledge(batch.seq)
        self.failures = 0

        minimum = body.get("min_interval_seconds")
        if isinstance(minimum, int | float) and not isinstance(minimum, bool):
            self.interval = max(self.config.interval, float(minimum))

        if not self.stopping:
            self.actions.observe(body.get("warning"))

    def backoff(self) -> float:
        """Return the delay before retry number self.failures: doubling, capped at the
        interval, with jitter so that many agents do not retry in step."""
        ceiling = min(self.interval, FIRST_BACKOFF * 2 ** min(self.failures - 1, 30))
        return float(ceiling * random.uniform(0.5, 1.0))

    def jittered(self, seconds: float) -> float:
        return seconds * random.uniform(1 - JITTER, 1 + JITTER)

    def send_final(self, deadline: float) -> None:
        """Send what is unacknowledged, then a heartbeat with the final status, by deadline."""
        if self.disabled:
            return
        for _ in range(2):
            final = self.state.in_flight is None
            batch = self.state.take_batch()
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return
            status = self.final_status if final else None
            outcome = self.send(self.config.heartbeat_url, self.config.api_key,
                                self.payload(batch, status), timeout)
            if outcome.kind != "ok":
                logger.debug("final heartbeat seq %s failed: %s", batch.seq, outcome.error)
                return
            self.state.acknowledge(batch.seq)
            if final:
                return

    def payload(self, batch: Batch, status: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "agent": self.config.agent,
            "source": "sdk",
            "instance_id": self.state.instance_id,
            "seq": batch.seq,
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        payload.update(self.state.gauges(time.monotonic()))
        payload.update(batch.counters.to_fields())

        if self.config.agent_type is not None:
            payload["agent_type"] = self.config.agent_type
        if "memory_mb" not in payload:
            memory = resident_memory_mb()
            if memory is not None:
                payload["memory_mb"] = memory
        if status is not None:
            payload["status"] = status
            if self.final_message is not None:
                payload["message"] = self.final_message
        return payload

    def report_once(self, key: str, message: str, *args: object) -> None:
        if key not in self.reported:
            self.reported.add(key)
            logger.warning(message, *args)


def resident_memory_mb() -> float | None:
    """Return this process's resident set size in MiB, or None where /proc is missing."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * _page_size() / 1048576, 1)


def _page_size() -> int:
    import resource

    return resource.getpagesize()
