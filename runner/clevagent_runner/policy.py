"""When to restart a dead target: exponential backoff and crash-loop detection.

Pure bookkeeping on monotonic seconds passed in by the caller, so tests drive it with
their own clock.
"""

from __future__ import annotations

from collections import deque

from clevagent_runner.config import TargetConfig


class RestartPolicy:
    """Backoff between restart attempts, reset after a stable period, and a crash-loop stop.

    The first attempt after a healthy run is immediate. Each further attempt without a
    stable period in between waits twice as long as the one before, from backoff_initial
    up to backoff_max. A run of stable_seconds resets the count. A crash loop is
    crash_loop_exits quick exits (a death before stable_seconds of uptime, or a restart
    that never came up) within crash_loop_window; the policy then gives up until reset().
    """

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.attempt = 0
        self.next_attempt_at = 0.0
        self.up_since: float | None = None
        self.quick_exits: deque[float] = deque()
        self.gave_up = False

    def delay_after(self, attempt: int) -> float:
        """Return the wait between attempt number `attempt` and the next one."""
        if attempt <= 0:
            return 0.0
        delay: float = self.config.backoff_initial * 2.0 ** (attempt - 1)
        return min(self.config.backoff_max, delay)

    def restart_due(self, now: float) -> bool:
        return not self.gave_up and now >= self.next_attempt_at

    def on_attempt(self, now: float) -> int:
        """Count an attempt starting now and return its number (1 for the first)."""
        self.attempt += 1
        self.next_attempt_at = now + self.delay_after(self.attempt)
        return self.attempt

    def on_alive(self, now: float) -> None:
        if self.up_since is None:
            self.up_since = now
        if self.attempt and now - self.up_since >= self.config.stable_seconds:
            self.attempt = 0
            self.next_attempt_at = 0.0

    def on_death(self, now: float) -> bool:
        """Record a death seen now; return True if it completes a crash loop."""
        uptime = None if self.up_since is None else now - self.up_since
        self.up_since = None
        if uptime is None or uptime >= self.config.stable_seconds:
            return False
        return self.record_quick_exit(now)

    def on_restart_failed(self, now: float) -> bool:
        """Record a restart that failed or never came up; True if that makes a crash loop."""
        self.up_since = None
        return self.record_quick_exit(now)

    def record_quick_exit(self, now: float) -> bool:
        self.quick_exits.append(now)
        while self.quick_exits and now - self.quick_exits[0] > self.config.crash_loop_window:
            self.quick_exits.popleft()
        if len(self.quick_exits) >= self.config.crash_loop_exits and not self.gave_up:
            self.gave_up = True
            return True
        return False

    def reset(self) -> None:
        """Forget attempts, quick exits and a give-up, as after a manual reset."""
        self.attempt = 0
        self.next_attempt_at = 0.0
        self.quick_exits.clear()
        self.gave_up = False
