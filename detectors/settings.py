"""The tunables of the detector cycle, with the defaults the documentation describes."""

from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class DetectorSettings:
    """Timing rules of the cycle. Per-agent thresholds live on the agents table instead."""

    # An agent is dead once silent for max(interval * dead_factor, interval + grace).
    dead_factor: float = 2.0
    grace_seconds: float = 60.0

    # A gap this long between two cycles means the detector itself was down. Silence
    # before the cycle that notices it is not held against agents.
    outage_after_seconds: float = 60.0

    # No progress: the iteration counter has not moved for max(interval * factor, minimum).
    no_progress_factor: float = 5.0
    no_progress_min_seconds: float = 300.0

    # A loop episode ends once no loop signal fired for this long, so that a rate that
    # hovers around its threshold does not open a new episode every cycle.
    loop_clear_seconds: float = 60.0

    # Token spikes: the rolling average covers this many earlier 1-minute buckets, and
    # at least spike_min_history of them must hold tokens before a spike can fire.
    spike_window_minutes: int = 30
    spike_min_history: int = 5

    # Agents whose latest heartbeat arrived within this margin before the previous cycle
    # are evaluated again, to catch heartbeats whose transaction committed after it read.
    reevaluate_margin_seconds: float = 5.0

    # Daily cost totals count heartbeats older than this lag only, because an ingest
    # transaction can commit a little after the time it stamped on its rows. A watermark
    # that fell behind is caught up cost_catch_up_seconds of heartbeats per statement.
    cost_lag_seconds: float = 30.0
    cost_catch_up_seconds: float = 3600.0

    # Partition upkeep and expiry (plain PostgreSQL) and pruning of detector tables.
    maintenance_every_seconds: float = 300.0

    @classmethod
    def for_cycle(cls, cycle_seconds: float) -> Self:
        """Return the defaults, with the outage gap widened for slow cycle periods."""
        return cls(outage_after_seconds=max(60.0, 3 * cycle_seconds))
