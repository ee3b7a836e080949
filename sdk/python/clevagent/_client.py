"""One initialised SDK: configuration, state, worker and the fork reset."""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time

from clevagent._actions import Actions
from clevagent._config import Config
from clevagent._state import Busy, State
from clevagent._worker import Worker

logger = logging.getLogger("clevagent")

_busy_tokens = itertools.count(1)


class Client:
    """State and worker of one init() call; the public functions delegate here."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state = State()
        self.pid = os.getpid()
        self.closed = False
        self.actions = Actions(config.agent, config.on_loop, config.on_cost_exceeded,
                               self.stop_process)
        self.worker = Worker(config, self.state, self.actions)

    def start(self) -> None:
        self.worker.start()

    def check_fork(self) -> None:
        """Start over in a forked child that the at-fork hook did not reach."""
        if os.getpid() != self.pid:
            self.after_fork_in_child()

    def after_fork_in_child(self) -> None:
        """Give the child its own instance id, counters and worker thread.

        The parent keeps sending what it had counted, so the child drops it. Locks held
        by the parent's threads at fork time stay locked forever in the child, so every
        lock and event is made anew.
        """
        if os.getpid() == self.pid:
            return
        self.pid = os.getpid()
        self.state.reset_after_fork()
        self.actions.active = set()
        self.worker = Worker(self.config, self.state, self.actions)
        if not self.closed:
            self.worker.start()

    def begin_busy(self, reason: str, timeout: float) -> int:
        token = next(_busy_tokens)
        with self.state.lock:
            self.state.busy[token] = Busy(reason, time.monotonic() + timeout)
        # The server should learn about the long call before it would start to wonder.
        self.worker.wake()
        return token

    def end_busy(self, token: int) -> None:
        with self.state.lock:
            self.state.busy.pop(token, None)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Send the final heartbeat and stop the worker; return True if it finished in time."""
        if self.closed:
            return True
        self.closed = True
        self.check_fork()
        if timeout is None:
            timeout = self.config.shutdown_timeout
        return self.worker.stop(timeout)

    def stop_process(self) -> None:
        """End the process with status 1 after a best-effort final heartbeat ("stop")."""
        self.worker.final_message = "stopped by the clevagent SDK after a server warning"
        try:
            self.shutdown()
        finally:
            sys.stderr.flush()
            os._exit(1)
