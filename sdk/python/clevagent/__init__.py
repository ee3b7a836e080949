"""ClevAgent SDK: heartbeats, cost and loop signals from a long-running AI agent.

Two lines start it::

    import clevagent
    clevagent.init(api_key="cv_...", agent="my-agent")

After init() a daemon thread sends a heartbeat every interval. The functions below only
record state and return at once; none of them raises into the agent except for an
explicit invalid argument, which raises ValueError at the call that received it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Iterator
from typing import Any

from clevagent._client import Client
from clevagent._config import STATUSES, Action, build_config
from clevagent._fingerprint import prompt_fingerprint, tool_call_fingerprint
from clevagent._version import __version__

__all__ = [
    "__version__",
    "busy",
    "init",
    "log_cost",
    "log_iteration",
    "log_prompt",
    "log_tool_call",
    "ping",
    "shutdown",
]

logger = logging.getLogger("clevagent")

MAX_MESSAGE = 2000

_client: Client | None = None
_init_lock = threading.Lock()


def init(
    api_key: str,
    agent: str,
    interval: float = 60,
    auto_cost: bool = True,
    endpoint: str | None = None,
    on_loop: Action = "alert_only",
    on_cost_exceeded: Action = "alert_only",
    agent_type: str | None = None,
    *,
    debug: bool = False,
    shutdown_timeout: float = 2.0,
) -> None:
    """Start monitoring this process as `agent`.

    Sends the first heartbeat at once, then one every `interval` seconds (the server may
    raise it to its plan's minimum). The endpoint comes from the argument, then the
    CLEVAGENT_ENDPOINT environment variable, then http://127.0.0.1:8080.

    on_loop and on_cost_exceeded take "alert_only" (one line on stderr), "stop" (final
    heartbeat, then os._exit(1)) or a callable, called from the SDK's thread with the
    server's warning dict if it accepts an argument. shutdown_timeout bounds the final
    heartbeat at exit, in seconds. debug=True logs the SDK's activity to stderr.

    Raise ValueError on an invalid argument. Calling init() again replaces the previous
    setup after flushing it.
    """
    global _client
    config = build_config(api_key, agent, interval, auto_cost, endpoint, on_loop,
                          on_cost_exceeded, agent_type, debug, shutdown_timeout)
    if debug:
        _enable_debug_logging()

    with _init_lock:
        previous = _client
        _client = None
        if previous is not None:
            previous.shutdown()

        client = Client(config)
        client.start()
        _client = client

    from clevagent import _lifecycle

    _lifecycle.install(client, _current)
    if auto_cost:
        from clevagent import autocost

        autocost.enable(_current)
    logger.debug("monitoring agent %r via %s every %.0f s", config.agent, config.endpoint,
                 config.interval)


def ping(
    status: str = "ok",
    message: str | None = None,
    tokens: int | None = None,
    cost_usd: float | None = None,
    tool_calls: int | None = None,
    iteration_count: int | None = None,
    memory_mb: float | None = None,
) -> None:
    """Report progress from the agent's main loop; sent with the next heartbeat.

    tokens, cost_usd and tool_calls add to what this cycle used. status, iteration_count
    and memory_mb are current values that later heartbeats repeat; message is sent once.
    Without iteration_count, the number of ping() calls replaces it, so a loop that
    pings shows progress. Raise ValueError on an invalid argument.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if message is not None and not isinstance(message, str):
        raise ValueError(f"message must be a string, got {type(message).__name__}")
    if tokens is not None:
        _check_count("tokens", tokens)
    if cost_usd is not None:
        _check_amount("cost_usd", cost_usd)
    if tool_calls is not None:
        _check_count("tool_calls", tool_calls)
    if iteration_count is not None:
        _check_count("iteration_count", iteration_count)
    if memory_mb is not None:
        _check_amount("memory_mb", memory_mb)

    client = _client
    if client is None:
        return
    if client.pid != os.getpid():
        client.check_fork()

    state = client.state
    with state.lock:
        counters = state.current
        state.status = status
        state.ping_count += 1
        if message is not None:
            counters.message = message[:MAX_MESSAGE]
        if tokens is not None:
            counters.explicit_tokens += tokens
            counters.explicit_tokens_set = True
        if cost_usd is not None:
            counters.explicit_cost += cost_usd
            counters.explicit_cost_set = True
        if tool_calls is not None:
            counters.tool_calls += tool_calls
        if iteration_count is not None:
            state.iteration = iteration_count
        if memory_mb is not None:
            state.memory_mb = memory_mb


def log_cost(tokens: int = 0, cost_usd: float = 0.0) -> dict[str, Any]:
    """Record the tokens and dollars of one LLM call that auto_cost does not see.

    Return a dict echoing both fields with ok True, or ok False and an error message;
    never raise. A cycle with logged cost_usd reports that amount, and the server does
    not price that cycle's captured usage on top of it.
    """
    result: dict[str, Any] = {"tokens": tokens, "cost_usd": cost_usd}
    try:
        _check_count("tokens", tokens)
        _check_amount("cost_usd", cost_usd)
        client = _client
        if client is None:
            return {**result, "ok": False, "error": "clevagent.init() has not been called"}
        client.check_fork()

        with client.state.lock:
            counters = client.state.current
            counters.explicit_tokens += tokens
            counters.explicit_tokens_set = True
            counters.explicit_cost += cost_usd
            counters.explicit_cost_set = True
    except Exception as error:
        return {**result, "ok": False, "error": str(error)}
    return {**result, "ok": True}


def log_prompt(prompt: str) -> None:
    """Record a fingerprint of a prompt for loop detection; the text is not sent."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
    client = _client
    if client is not None:
        client.check_fork()
        client.state.add_fingerprint(prompt_fingerprint(prompt), tool_call=False)


def log_tool_call(name: str, arguments: object = None) -> None:
    """Count one tool call and record a fingerprint of its name and arguments.

    arguments may be a JSON-serialisable value or a JSON string; neither is sent.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    client = _client
    if client is not None:
        client.check_fork()
        client.state.add_fingerprint(tool_call_fingerprint(name, arguments), tool_call=True)


def log_iteration(iteration: int | None = None) -> None:
    """Set the agent's iteration counter, or advance it by one when called without one."""
    if iteration is not None:
        _check_count("iteration", iteration)
    client = _client
    if client is None:
        return
    client.check_fork()
    state = client.state
    with state.lock:
        if iteration is None:
            base = state.iteration if state.iteration is not None else state.ping_count
            iteration = base + 1
        state.iteration = iteration


@contextlib.contextmanager
def busy(reason: str = "", timeout: float = 600.0) -> Iterator[None]:
    """Declare a long call, such as a slow model or tool, for at most timeout seconds.

    Until the block ends or the timeout passes, the server expects no progress and does
    not report the agent as stuck or dead.
    """
    if not isinstance(reason, str):
        raise ValueError(f"reason must be a string, got {type(reason).__name__}")
    _check_amount("timeout", timeout)
    client = _client
    token = None
    if client is not None:
        client.check_fork()
        token = client.begin_busy(reason, float(timeout))
    try:
        yield
    finally:
        if client is not None and token is not None:
            client.end_busy(token)


def shutdown(timeout: float | None = None) -> bool:
    """Send a final heartbeat with status "shutdown" and stop the SDK's thread.

    Wait at most timeout seconds (default: init's shutdown_timeout). Return True if the
    heartbeat went out in time. Also runs at interpreter exit and on SIGTERM and SIGINT.
    """
    global _client
    if timeout is not None:
        _check_amount("timeout", timeout)
    with _init_lock:
        client, _client = _client, None
    if client is None:
        return True
    try:
        return client.shutdown(timeout)
    except Exception:
        logger.debug("shutdown failed", exc_info=True)
        return False


def _current() -> Client | None:
    return _client


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _check_amount(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _enable_debug_logging() -> None:
    # Only on request, and only once: the application's own logging setup stays untouched.
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s clevagent %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
