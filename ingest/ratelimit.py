"""Per-key rate limits: a token bucket per API key, refilled at the plan's rate.

The bucket holds twice the per-minute limit, so a client may burst up to 2x its limit
after a quiet minute and is held to the limit when it sends steadily.

The limiter is an interface so that a shared backend (Redis, PostgreSQL) can replace the
in-process one. With the in-process limiter, each server process counts on its own: run
N processes and a key gets up to N times its limit.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

BURST_FACTOR = 2


class RateLimiter(Protocol):
    def hit(self, key: str, limit_per_minute: int) -> float | None:
        """Count one request for key; return None if allowed, else seconds to wait."""
        ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class InProcessRateLimiter:
    """A token-bucket limiter that lives in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._max_keys = max_keys

    def hit(self, key: str, limit_per_minute: int) -> float | None:
        now = self._clock()
        capacity = float(limit_per_minute * BURST_FACTOR)
        rate = limit_per_minute / 60.0

        bucket = self._buckets.get(key)
        if bucket is None:
            self._evict_if_full()
            bucket = self._buckets[key] = _Bucket(capacity, now)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now

        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    def _evict_if_full(self) -> None:
        # Full buckets carry no state worth keeping: a new bucket starts full anyway.
        if len(self._buckets) < self._max_keys:
            return
        self._buckets.clear()


def retry_after_seconds(wait: float) -> int:
    """Round a wait up to whole seconds, as the Retry-After header needs."""
    return max(1, math.ceil(wait))
