"""Turn the server's warnings into the agent's on_loop and on_cost_exceeded actions."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from clevagent._config import Action

logger = logging.getLogger("clevagent")

LOOP = "loop"
COST = "cost_exceeded"

# Warning types the server sends, by the setting that handles them. A type not listed
# here is logged at debug level and otherwise ignored, because "stop" must never fire
# on a signal the agent's author did not choose.
ACTION_BY_WARNING = {
    "loop": LOOP,
    "cost_exceeded": COST,
    "budget": COST,
    "cost_budget": COST,
}


class Actions:
    """Fire each setting once per episode: from the first warning of its kind until a
    heartbeat response without it."""

    def __init__(self, agent: str, on_loop: Action, on_cost_exceeded: Action,
                 stop: Callable[[], None]) -> None:
        self.agent = agent
        self.settings: dict[str, Action] = {LOOP: on_loop, COST: on_cost_exceeded}
        self.stop = stop
        self.active: set[str] = set()

    def observe(self, warning: object) -> None:
        """Handle the warning field of one acknowledged heartbeat (None when absent)."""
        kind = None
        if isinstance(warning, dict):
            kind = ACTION_BY_WARNING.get(str(warning.get("type")))
            if kind is None:
                logger.debug("ignoring warning of unknown type: %r", warning)

        started = {kind} - self.active if kind is not None else set()
        self.active = {kind} if kind is not None else set()
        for name in started:
            assert isinstance(warning, dict)
            self.run(name, warning)

    def run(self, kind: str, warning: dict[str, Any]) -> None:
        setting = self.settings[kind]
        if callable(setting):
            _call_guarded(setting, warning)
            return

        print(_alert_line(self.agent, kind, warning, setting), file=sys.stderr, flush=True)
        if setting == "stop":
            self.stop()


def _alert_line(agent: str, kind: str, warning: dict[str, Any], setting: str) -> str:
    what = "loop detected" if kind == LOOP else "cost budget exceeded"
    detail = warning.get("message") or warning.get("signal") or ""
    suffix = "stopping the process (on_{} is \"stop\")".format(
        "loop" if kind == LOOP else "cost_exceeded"
    ) if setting == "stop" else "the agent keeps running"
    return f"clevagent: {what} for agent {agent!r}: {detail}; {suffix}".replace(": ;", ";")


def _call_guarded(function: Callable[..., Any], warning: dict[str, Any]) -> None:
    """Call the agent's handler with the warning if it takes an argument, else without."""
    try:
        if _accepts_argument(function):
            function(dict(warning))
        else:
            function()
    except Exception:
        logger.exception("the agent's warning handler %r raised", function)


def _accepts_argument(function: Callable[..., Any]) -> bool:
    import inspect

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None)
    except TypeError:
        return False
    return True
