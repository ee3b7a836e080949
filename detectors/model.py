"""The rows a cycle reads and the decisions it writes back."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# Episode kinds (detector_episodes.kind) and the events that open and end them.
LOOP = "loop"
NO_PROGRESS = "no_progress"
BUDGET_AGENT = "budget_agent"
BUDGET_PROJECT = "budget_project"

EPISODE_EVENTS = {
    LOOP: ("loop_started", "loop_ended"),
    NO_PROGRESS: ("no_progress_started", "no_progress_ended"),
    BUDGET_AGENT: ("budget_exceeded", "budget_reset"),
    BUDGET_PROJECT: ("budget_exceeded", "budget_reset"),
}


@dataclass(frozen=True)
class Agent:
    """An enabled agent as load_agents.sql returns it."""

    id: int
    project_id: int
    name: str
    expected_interval_seconds: int
    max_tool_calls_per_minute: int
    max_identical_messages: int
    token_spike_multiplier: float
    daily_budget_usd: float | None
    auto_restart: bool
    on_loop: str
    on_cost_exceeded: str
    restart_type: str | None
    restart_target: str | None
    last_heartbeat_at: datetime | None
    last_client_status: str | None
    last_iteration: int | None
    last_iteration_changed_at: datetime | None
    busy_until: datetime | None
    busy_reason: str | None
    status: str
    status_reason: str | None
    status_changed_at: datetime | None
    warning: dict[str, Any] | None
    timezone: str
    day: date
    cost_usd: float
    unpriced_calls: int
    unknown_usage_calls: int
    repetition: dict[str, Any] | None
    spike: dict[str, Any] | None


@dataclass(frozen=True)
class ProjectCost:
    """Today's cost of a project that has a daily budget, as load_project_costs.sql returns it."""

    id: int
    daily_budget_usd: float
    timezone: str
    day: date
    cost_usd: float
    unpriced_calls: int
    unknown_usage_calls: int


@dataclass(frozen=True)
class OpenEpisode:
    """An episode that has started and not ended, as load_open_episodes.sql returns it."""

    id: int
    project_id: int
    agent_id: int | None
    kind: str
    signal: str
    value: float | None
    threshold: float | None
    details: dict[str, Any] | None
    started_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Event:
    """An agent_events row to write."""

    project_id: int
    agent_id: int | None
    type: str
    severity: str = "info"
    signal: str | None = None
    value: float | None = None
    threshold: float | None = None
    message: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class Command:
    """A restart_commands row to queue for the runner."""

    project_id: int
    agent_id: int
    action: str
    type: str | None
    target: str | None
    reason: str


@dataclass
class Consequences:
    """What to write once a decision has been applied, and only if it was."""

    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


@dataclass
class StatusChange:
    agent: Agent
    status: str
    reason: str | None
    then: Consequences = field(default_factory=Consequences)


@dataclass
class EpisodeStart:
    project_id: int
    agent_id: int | None
    kind: str
    signal: str
    value: float
    threshold: float
    details: dict[str, Any]
    then: Consequences = field(default_factory=Consequences)


@dataclass
class EpisodeEnd:
    episode: OpenEpisode
    then: Consequences = field(default_factory=Consequences)


@dataclass
class Plan:
    """Everything a cycle decided, ready to be written in one transaction."""

    status_changes: list[StatusChange] = field(default_factory=list)
    warnings: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    starts: list[EpisodeStart] = field(default_factory=list)
    touches: list[tuple[int, float, dict[str, Any]]] = field(default_factory=list)
    ends: list[EpisodeEnd] = field(default_factory=list)
    signals: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]] = field(
        default_factory=list
    )
