"""Process hooks: fork, interpreter exit, SIGTERM and SIGINT.

Each hook reaches the current client through a function, never by holding it, so a
client replaced by a new init() can be collected.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

from clevagent._client import Client

logger = logging.getLogger("clevagent")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_installed_exit_hook = False
_previous_handlers: dict[int, Any] = {}


def install(client: Client, current: Callable[[], Client | None]) -> None:
    """Install the fork, exit and signal hooks for a freshly started client."""
    _install_fork_hook(client)
    _install_exit_hook(current)
    _install_signal_handlers(current)


def _install_fork_hook(client: Client) -> None:
    # os.register_at_fork cannot unregister, so the hook holds only a weak reference.
    reference = weakref.ref(client)

    def after_in_child() -> None:
        alive = reference()
        if alive is not None:
            try:
                alive.after_fork_in_child()
            except Exception:
                logger.debug("resetting the SDK after fork failed", exc_info=True)

    os.register_at_fork(after_in_child=after_in_child)


def _install_exit_hook(current: Callable[[], Client | None]) -> None:
    global _installed_exit_hook
    if _installed_exit_hook:
        return
    _installed_exit_hook = True

    def shutdown_at_exit() -> None:
        client = current()
        if client is not None:
            try:
                client.shutdown()
            except Exception:
                logger.debug("the final heartbeat at exit failed", exc_info=True)

    atexit.register(shutdown_at_exit)


def _install_signal_handlers(current: Callable[[], Client | None]) -> None:
    """Chain SIGTERM and SIGINT to the handlers installed before, once per process.

    Python only lets the main thread install signal handlers, so init() from another
    thread relies on the exit hook alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    for signum in STOP_SIGNALS:
        if signum in _previous_handlers:
            continue
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            # The process was told to ignore this signal; it stays ignored.
            continue
        _previous_handlers[signum] = previous
        signal.signal(signum, _make_handler(current))


def _make_handler(current: Callable[[], Client | None]) -> Callable[[int, FrameType | None], Any]:
    def handle(signum: int, frame: FrameType | None) -> Any:
        previous = _previous_handlers.get(signum)
        if callable(previous):
            # The application's own handler decides whether the process ends. If it ends
            # through sys.exit or an exception, the exit hook sends the final heartbeat.
            return previous(signum, frame)

        # SIG_DFL, or a handler installed outside Python (None): the signal would have
        # ended the process at once, without exit hooks. Send the final heartbeat, then
        # let the default action end the process with the same signal.
        client = current()
        if client is not None:
            try:
                client.shutdown()
            except Exception:
                logger.debug("the final heartbeat on signal %s failed", signum, exc_info=True)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return None

    return handle
