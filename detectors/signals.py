"""Loop signals computed from recent heartbeats: repetition and token spikes.

These are pure functions over rows the cycle has read, so that the rules can be read
(and tested) apart from the SQL.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

# Signal names, as they appear in events and warnings.
TOOL_CALL_RATE = "tool_call_rate"
IDENTICAL_MESSAGES = "identical_messages"
TOKEN_SPIKE = "token_spike"

# Repetition is checked for these cycle lengths: the same item again and again (1), and
# a two-step ping-pong such as A B A B (2).
REPETITION_PERIODS = (1, 2)


@dataclass(frozen=True)
class Signal:
    """A detector condition that is true now, with the numbers that made it fire."""

    name: str
    value: float
    threshold: float
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(data["signal"], data["value"], data["threshold"], data["message"],
                   data.get("details") or {})


@dataclass(frozen=True)
class RecentHeartbeat:
    """The columns of a stored heartbeat that repetition detection looks at."""

    time: datetime
    message: str | None
    fingerprints: list[str] | None
    tokens_used: int | None
    tool_calls: int | None
    llm_calls: int | None
    cost_usd: float | None
    iteration_count: int | None


@dataclass(frozen=True)
class TokenBucket:
    """One 1-minute bucket with the rolling average of the buckets before it."""

    bucket: datetime
    tokens_used: float | None
    avg_before: float | None
    buckets_before: int


def tool_call_rate(tool_calls: float, limit: int) -> Signal | None:
    """Return a signal when more than `limit` tool calls arrived in the last minute."""
    if tool_calls <= limit:
        return None
    message = (
        f"Loop suspected: {tool_calls:g} tool calls in the last minute "
        f"(limit {limit} per minute)"
    )
    return Signal(TOOL_CALL_RATE, tool_calls, limit, message)


def repeat_count(items: Sequence[str | None], period: int) -> int:
    """Return how many times the last `period` items occur back to back at the end.

    A cycle whose items are missing or not all different counts 0, so that A A A A is
    a run of period 1 and never also a ping-pong of period 2.
    """
    if period < 1 or len(items) < period:
        return 0
    unit = list(items[-period:])
    if any(not item for item in unit) or len(set(unit)) < period:
        return 0

    count = 0
    end = len(items)
    while end >= period and list(items[end - period:end]) == unit:
        count += 1
        end -= period
    return count


def repetition(heartbeats: Sequence[RecentHeartbeat], limit: int) -> Signal | None:
    """Return a signal when messages or fingerprints repeat `limit` times in a row.

    Heartbeats are oldest first. A repetition counts as a loop only when the heartbeats it
    spans consumed something (tokens, tool calls, LLM calls or cost) and the iteration
    counter did not advance across them: an idle poller that keeps reporting "waiting for
    jobs" is not looping, and neither is a worker that reports the same text per item.
    """
    messages = [hb.message for hb in heartbeats]
    owners = list(range(len(heartbeats)))
    fingerprints, fingerprint_owners = _flatten_fingerprints(heartbeats)

    sources = (("message", messages, owners), ("fingerprints", fingerprints, fingerprint_owners))
    for source, items, item_owners in sources:
        for period in REPETITION_PERIODS:
            count = repeat_count(items, period)
            if count < limit:
                continue
            first_owner = item_owners[len(items) - count * period]
            span = heartbeats[first_owner:]
            if _consumed(span) and not _progressed(span):
                return _repetition_signal(source, period, count, limit, items[-period:])
    return None


def token_spike(buckets: Sequence[TokenBucket], multiplier: float,
                min_history: int) -> Signal | None:
    """Return a signal when a recent bucket contains over `multiplier` x the rolling average.

    Buckets with fewer than `min_history` earlier buckets, or an average of zero, never
    fire: a new agent or one coming out of idleness has no baseline to spike against.
    """
    best: tuple[float, TokenBucket] | None = None
    for bucket in buckets:
        if bucket.buckets_before < min_history or not bucket.avg_before:
            continue
        ratio = (bucket.tokens_used or 0) / bucket.avg_before
        if ratio > multiplier and (best is None or ratio > best[0]):
            best = (ratio, bucket)
    if best is None:
        return None

    ratio, bucket = best
    message = (
        f"Token spike: {bucket.tokens_used:g} tokens in one minute, {ratio:.1f}x the "
        f"rolling average of {bucket.avg_before:.0f} (limit {multiplier:g}x)"
    )
    details = {
        "bucket": bucket.bucket.isoformat(),
        "tokens": bucket.tokens_used,
        "average": bucket.avg_before,
        "buckets_before": bucket.buckets_before,
    }
    return Signal(TOKEN_SPIKE, round(ratio, 3), multiplier, message, details)


def _flatten_fingerprints(
    heartbeats: Sequence[RecentHeartbeat],
) -> tuple[list[str | None], list[int]]:
    items: list[str | None] = []
    owners: list[int] = []
    for index, heartbeat in enumerate(heartbeats):
        for fingerprint in heartbeat.fingerprints or ():
            items.append(fingerprint)
            owners.append(index)
    return items, owners


def _consumed(span: Sequence[RecentHeartbeat]) -> bool:
    return any(
        (hb.tokens_used or 0) > 0 or (hb.tool_calls or 0) > 0 or (hb.llm_calls or 0) > 0
        or (hb.cost_usd or 0) > 0
        for hb in span
    )


def _progressed(span: Sequence[RecentHeartbeat]) -> bool:
    iterations = {hb.iteration_count for hb in span if hb.iteration_count is not None}
    return len(iterations) > 1


def _repetition_signal(source: str, period: int, count: int, limit: int,
                       unit: Sequence[str | None]) -> Signal:
    what = "message" if source == "message" else "prompt or tool call"
    if period == 1:
        message = f"Loop suspected: the same {what} {count} times in a row (limit {limit})"
    else:
        message = (
            f"Loop suspected: a {period}-step cycle of {what}s repeated {count} times "
            f"in a row (limit {limit})"
        )
    details: dict[str, Any] = {"source": source, "period": period}
    if source == "message":
        details["repeated"] = [text[:200] if text else text for text in unit]
    else:
        details["repeated"] = list(unit)
    return Signal(IDENTICAL_MESSAGES, count, limit, message, details)
