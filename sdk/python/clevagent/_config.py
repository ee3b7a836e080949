"""Validated settings of one init() call."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
ENDPOINT_VARIABLE = "CLEVAGENT_ENDPOINT"

ACTIONS = ("alert_only", "stop")
STATUSES = ("ok", "warning", "error", "shutdown")
MAX_AGENT_NAME = 128
MAX_AGENT_TYPE = 64
MIN_INTERVAL = 1.0

Action = str | Callable[..., Any]


@dataclass(frozen=True)
class Config:
    """Settings of one SDK client, validated once at init()."""

    api_key: str
    agent: str
    interval: float
    auto_cost: bool
    endpoint: str
    on_loop: Action
    on_cost_exceeded: Action
    agent_type: str | None
    debug: bool = False
    shutdown_timeout: float = 2.0

    @property
    def heartbeat_url(self) -> str:
        return self.endpoint + "/api/v1/heartbeat"


def build_config(
    api_key: object,
    agent: object,
    interval: object,
    auto_cost: object,
    endpoint: object,
    on_loop: object,
    on_cost_exceeded: object,
    agent_type: object,
    debug: object = False,
    shutdown_timeout: object = 2.0,
) -> Config:
    """Validate the arguments of init(); raise ValueError naming the bad one."""
    return Config(
        api_key=_check_api_key(api_key),
        agent=_check_agent(agent),
        interval=_check_seconds("interval", interval, MIN_INTERVAL),
        auto_cost=_check_bool("auto_cost", auto_cost),
        endpoint=resolve_endpoint(endpoint),
        on_loop=_check_action("on_loop", on_loop),
        on_cost_exceeded=_check_action("on_cost_exceeded", on_cost_exceeded),
        agent_type=_check_optional_text("agent_type", agent_type, MAX_AGENT_TYPE),
        debug=_check_bool("debug", debug),
        shutdown_timeout=_check_seconds("shutdown_timeout", shutdown_timeout, 0.0),
    )


def resolve_endpoint(endpoint: object) -> str:
    """Return the endpoint from the argument, then CLEVAGENT_ENDPOINT, then the default."""
    source = "endpoint"
    if endpoint is None:
        endpoint = os.environ.get(ENDPOINT_VARIABLE) or DEFAULT_ENDPOINT
        source = ENDPOINT_VARIABLE

    if not isinstance(endpoint, str):
        raise ValueError(f"endpoint must be a URL string, got {type(endpoint).__name__}")

    parsed = urllib.parse.urlsplit(endpoint.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"{source} must be an http:// or https:// URL such as {DEFAULT_ENDPOINT}, "
            f"got {endpoint!r}"
        )
    return endpoint.strip().rstrip("/")


def _check_api_key(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("api_key must be a non-empty string (project keys start with cv_)")
    return value.strip()


def _check_agent(value: object) -> str:
    # The server's rule: a name it would reject would make every heartbeat fail.
    if not isinstance(value, str) or not value.strip():
        raise ValueError("agent must be a non-empty string naming the agent")
    if len(value) > MAX_AGENT_NAME:
        raise ValueError(f"agent must be at most {MAX_AGENT_NAME} characters, got {len(value)}")
    if value != value.strip() or not value.isprintable():
        raise ValueError(
            f"agent must have no control characters and no leading or trailing spaces, "
            f"got {value!r}"
        )
    return value


def _check_seconds(name: str, value: object, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if not minimum <= float(value) < float("inf"):
        raise ValueError(f"{name} must be at least {minimum:g} seconds, got {value!r}")
    return float(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_action(name: str, value: object) -> Action:
    if callable(value):
        return value
    if value not in ACTIONS:
        raise ValueError(f'{name} must be "alert_only", "stop" or a callable, got {value!r}')
    return str(value)


def _check_optional_text(name: str, value: object, maximum: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= maximum:
        raise ValueError(f"{name} must be None or a string of 1 to {maximum} characters, "
                         f"got {value!r}")
    return value
