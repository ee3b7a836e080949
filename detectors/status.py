"""Liveness and progress rules: when an agent counts as late, dead or stuck."""

import re
from dataclasses import dataclass
from datetime import datetime

from clevagent_server.detectors.model import Agent
from clevagent_server.detectors.settings import DetectorSettings

UNKNOWN = "unknown"
HEALTHY = "healthy"
DEGRADED = "degraded"
DEAD = "dead"

SHUTDOWN_REASON = "shutdown"


@dataclass(frozen=True)
class Liveness:
    """The liveness part of a status. `late` marks an alive agent whose heartbeat is overdue."""

    status: str
    reason: str | None = None
    late: bool = False


def dead_after_seconds(interval: float, settings: DetectorSettings) -> float:
    """Return how long an agent may stay silent before it counts as dead."""
    return max(interval * settings.dead_factor, interval + settings.grace_seconds)


def late_after_seconds(interval: float, settings: DetectorSettings) -> float:
    """Return the silence after which a heartbeat is late: halfway to dead.

    Silence only grows between two heartbeats, so an agent whose heartbeats arrive around
    the expected interval, jitter included, never crosses this line and never flaps.
    """
    return interval + (dead_after_seconds(interval, settings) - interval) / 2


def judge_liveness(agent: Agent, now: datetime, resumed_at: datetime,
                   settings: DetectorSettings) -> Liveness:
    """Return whether the agent is alive, late, dead, stopped or never seen.

    Silence is counted from the latest heartbeat or from the moment the detector came back
    after its own downtime, whichever is later, and not at all before a busy deadline.
    A dead agent stays dead until a heartbeat newer than its death arrives.
    """
    last = agent.last_heartbeat_at
    if last is None:
        return Liveness(UNKNOWN)
    if agent.last_client_status == "shutdown":
        return Liveness(UNKNOWN, SHUTDOWN_REASON)
    if _still_dead(agent):
        return Liveness(DEAD, agent.status_reason)
    if agent.busy_until is not None and now < agent.busy_until:
        return Liveness(HEALTHY)

    counted = (now - max(last, resumed_at)).total_seconds()
    silent = round((now - last).total_seconds())
    interval = agent.expected_interval_seconds
    if counted > dead_after_seconds(interval, settings):
        return Liveness(DEAD, f"no heartbeat for {silent} s")
    if counted > late_after_seconds(interval, settings):
        return Liveness(HEALTHY, f"late: no heartbeat for {silent} s", late=True)
    return Liveness(HEALTHY)


def stalled_seconds(agent: Agent, now: datetime, resumed_at: datetime,
                    settings: DetectorSettings) -> float | None:
    """Return for how long the iteration counter has been stuck, if past the limit.

    Returns None for agents that never reported an iteration, that are inside a busy
    deadline, or whose counter moved recently enough.
    """
    changed = agent.last_iteration_changed_at
    if agent.last_iteration is None or changed is None:
        return None
    if agent.busy_until is not None and now < agent.busy_until:
        return None

    stalled = (now - max(changed, resumed_at)).total_seconds()
    return stalled if stalled > no_progress_limit_seconds(agent, settings) else None


def no_progress_limit_seconds(agent: Agent, settings: DetectorSettings) -> float:
    """Return how long the iteration counter may stay put before the agent is stuck."""
    return max(agent.expected_interval_seconds * settings.no_progress_factor,
               settings.no_progress_min_seconds)


def same_reason(old: str | None, new: str | None) -> bool:
    """Return True if two reasons differ at most in their numbers.

    "no heartbeat for 130 s" and "no heartbeat for 140 s" are the same reason, so a cycle
    does not rewrite the agent row only because a count went up.
    """
    if old is None or new is None:
        return old is new
    return re.sub(r"[0-9.]+", "#", old) == re.sub(r"[0-9.]+", "#", new)


def _still_dead(agent: Agent) -> bool:
    return (
        agent.status == DEAD
        and agent.status_changed_at is not None
        and agent.last_heartbeat_at is not None
        and agent.last_heartbeat_at <= agent.status_changed_at
    )
