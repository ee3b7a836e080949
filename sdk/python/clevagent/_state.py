"""What the agent reported since the last acknowledged heartbeat.

Counters travel as deltas. A heartbeat takes the current counters into a batch with its
own sequence number and keeps that batch until the server acknowledged it. A retry sends
the same batch under the same number, so the server, which ignores counters of a number it
already stored, counts each batch exactly once. What the agent reports meanwhile goes into
a fresh set of counters for the next number.
"""

from __future__ import annotations

import collections
import os
import threading
from dataclasses import dataclass, field
from typing import Any

MAX_FINGERPRINTS = 1000
# Server limits on a heartbeat's fields; a longer value would get the whole heartbeat rejected.
MAX_BUSY_SECONDS = 7 * 86400
MAX_BUSY_REASON = 200
MAX_MODEL_NAME = 200
MAX_PROVIDER_NAME = 64
MAX_USAGE_MODELS = 100
# Captured calls wait here until the worker's next attempt; far more than any agent makes
# in one interval, but a bound all the same.
MAX_INBOX = 100_000
OVERFLOW_MODEL = "other"

# Positions in a usage row, in the order of the heartbeat's usage fields.
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "calls",
)


@dataclass
class Counters:
    """Deltas of one heartbeat: everything that must be counted exactly once."""

    explicit_tokens: int = 0
    explicit_tokens_set: bool = False
    explicit_cost: float = 0.0
    explicit_cost_set: bool = False
    auto_tokens: int = 0
    tool_calls: int = 0
    unknown_usage_calls: int = 0
    message: str | None = None
    usage: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    fingerprints: collections.deque[str] = field(default_factory=collections.deque)

    def to_fields(self) -> dict[str, Any]:
        """Return the heartbeat fields these counters contribute."""
        fields: dict[str, Any] = {"tool_calls": self.tool_calls}

        # A value the agent logged itself wins over what auto_cost captured, because the
        # agent may count calls that auto_cost also saw.
        fields["tokens_used"] = (
            self.explicit_tokens if self.explicit_tokens_set else self.auto_tokens
        )
        if self.explicit_cost_set:
            fields["cost_usd"] = round(self.explicit_cost, 10)

        if self.usage:
            fields["usage"] = [
                {"provider": provider, "model": model, **dict(zip(USAGE_FIELDS, row, strict=True))}
                for (provider, model), row in self.usage.items()
            ]
        if self.unknown_usage_calls:
            fields["unknown_usage_calls"] = self.unknown_usage_calls
        if self.fingerprints:
            fields["fingerprints"] = list(self.fingerprints)
        if self.message is not None:
            fields["message"] = self.message
        return fields


@dataclass
class Batch:
    """Counters under the sequence number they are sent with until acknowledged."""

    seq: int
    counters: Counters


@dataclass
class Busy:
    reason: str
    deadline: float


class State:
    """Thread-safe store of the agent's reports; every method returns at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.instance_id = os.urandom(16).hex()
        self.current = Counters()
        self.in_flight: Batch | None = None
        self.next_seq = 1
        self.status = "ok"
        self.iteration: int | None = None
        self.ping_count = 0
        self.memory_mb: float | None = None
        self.busy: dict[int, Busy] = {}
        self.drops: collections.Counter[str] = collections.Counter()
        # auto_cost appends here without the lock, because it also reports from garbage
        # collection callbacks, which may run while this thread holds the lock.
        self.inbox: collections.deque[tuple[str, str, tuple[int, ...] | None]] = (
            collections.deque(maxlen=MAX_INBOX)
        )

    def reset_after_fork(self) -> None:
        """Give a forked child its own identity and drop counters its parent still sends."""
        self.lock = threading.Lock()
        self.instance_id = os.urandom(16).hex()
        self.current = Counters()
        self.in_flight = None
        self.next_seq = 1
        self.ping_count = 0
        self.busy = {}
        self.drops = collections.Counter()
        self.inbox = collections.deque(maxlen=MAX_INBOX)

    def drain_inbox(self) -> None:
        """Move captured calls into the current counters; the caller holds the lock."""
        while self.inbox:
            try:
                provider, model, row = self.inbox.popleft()
            except IndexError:
                return
            if row is None:
                self.current.unknown_usage_calls += 1
            else:
                self.add_usage(provider, model, row)

    def add_usage(self, provider: str, model: str, row: tuple[int, ...]) -> None:
        """Add one call's usage, in USAGE_FIELDS order; the caller holds the lock."""
        usage = self.current.usage
        key = (provider[:MAX_PROVIDER_NAME], model[:MAX_MODEL_NAME] or "unknown")
        if key not in usage and len(usage) >= MAX_USAGE_MODELS:
            # Bounded whatever the agent does: further models share one row, which the
            # server prices as an unknown model rather than losing the tokens.
            key = (provider, OVERFLOW_MODEL)
            self.drops["usage_model_overflow"] += 1

        total = usage.setdefault(key, [0, 0, 0, 0, 0, 0])
        for index, value in enumerate(row):
            total[index] += value
        self.current.auto_tokens += row[0] + row[1]

    def add_fingerprint(self, fingerprint: str, tool_call: bool) -> None:
        with self.lock:
            fingerprints = self.current.fingerprints
            if len(fingerprints) >= MAX_FINGERPRINTS:
                fingerprints.popleft()
                self.drops["fingerprint_overflow"] += 1
            fingerprints.append(fingerprint)
            if tool_call:
                self.current.tool_calls += 1

    def take_batch(self) -> Batch:
        """Return the unacknowledged batch, or start one from the current counters."""
        with self.lock:
            self.drain_inbox()
            if self.in_flight is None:
                self.in_flight = Batch(self.next_seq, self.current)
                self.next_seq += 1
                self.current = Counters()
            return self.in_flight

    def acknowledge(self, seq: int) -> None:
        with self.lock:
            if self.in_flight is not None and self.in_flight.seq == seq:
                self.in_flight = None

    def drop_batch(self, seq: int, reason: str) -> None:
        """Forget a batch the server rejected for good, counting the loss by reason."""
        with self.lock:
            if self.in_flight is not None and self.in_flight.seq == seq:
                self.in_flight = None
                self.drops[reason] += 1

    def has_pending_counters(self) -> bool:
        with self.lock:
            self.drain_inbox()
            return self.in_flight is not None or self.current != Counters()

    def gauges(self, now: float) -> dict[str, Any]:
        """Return the latest values a heartbeat repeats until the agent changes them."""
        with self.lock:
            fields: dict[str, Any] = {"status": self.status}
            iteration = self.iteration if self.iteration is not None else self.ping_count
            if self.iteration is not None or self.ping_count:
                fields["iteration_count"] = iteration
            if self.memory_mb is not None:
                fields["memory_mb"] = self.memory_mb

            # Always sent, so that leaving busy() reaches the server as 0, which clears it.
            deadline = max((busy.deadline for busy in self.busy.values()), default=now)
            fields["busy_seconds"] = round(min(max(0.0, deadline - now), MAX_BUSY_SECONDS), 3)
            if fields["busy_seconds"] > 0:
                reason = max(self.busy.values(), key=_deadline).reason[:MAX_BUSY_REASON]
                if reason:
                    fields["busy_reason"] = reason
            return fields


def _deadline(busy: Busy) -> float:
    return busy.deadline
