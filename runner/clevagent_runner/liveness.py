"""What a check of one target found, and the interface every watch type implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Values of Liveness.state.
ALIVE = "alive"
DEAD = "dead"
# In transition: systemd activating, docker restarting or health "starting", a relaunched
# process that has not written its PID file yet. Neither a death nor a success.
STARTING = "starting"
# The target cannot be restarted until a person acts: unit not found or masked, systemd's
# start-limit-hit, a launchd label that is not loaded, a missing container.
BLOCKED = "blocked"
# The check itself failed (Docker socket down, systemctl timed out) or the target is in a
# state a person chose (a paused container): reported as an error, never restarted.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Liveness:
    """The result of one check of one target."""

    state: str
    detail: str
    exit_code: int | None = None
    pid: int | None = None
    restart_count: int | None = None
    memory_mb: float | None = None

    @property
    def alive(self) -> bool:
        return self.state == ALIVE


class ActionError(Exception):
    """A restart or stop that failed, with a message naming what was attempted and why."""


class Driver(Protocol):
    """Checks, restarts and stops one target of one watch type.

    Every method returns or raises within a bounded time (socket and subprocess timeouts),
    so a hung Docker daemon or systemctl stalls only the worker thread of its target.
    """

    def check(self) -> Liveness: ...

    def restart(self) -> str:
        """Restart (or start) the target; return a short note, raise ActionError."""
        ...

    def stop(self) -> str:
        """Stop the target so that it stays down; return a short note, raise ActionError."""
        ...
