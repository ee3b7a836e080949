"""The decisions of one cycle: statuses, episodes, warnings and commands.

Everything here is computed from rows already read, so the whole policy can be followed
in one file. The cycle then writes the Plan; events and commands that belong to a
decision are written only if that decision was actually applied.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clevagent_server.detectors import signals as sig
from clevagent_server.detectors.model import (
    BUDGET_AGENT,
    BUDGET_PROJECT,
    EPISODE_EVENTS,
    LOOP,
    NO_PROGRESS,
    Agent,
    Command,
    Consequences,
    EpisodeEnd,
    EpisodeStart,
    Event,
    OpenEpisode,
    Plan,
    ProjectCost,
    StatusChange,
)
from clevagent_server.detectors.settings import DetectorSettings
from clevagent_server.detectors.signals import Signal
from clevagent_server.detectors.status import (
    DEAD,
    DEGRADED,
    HEALTHY,
    SHUTDOWN_REASON,
    UNKNOWN,
    Liveness,
    judge_liveness,
    no_progress_limit_seconds,
    same_reason,
    stalled_seconds,
)

EpisodeKey = tuple[int, int | None, str]

DAILY_COST_AGENT = "daily_cost_agent"
DAILY_COST_PROJECT = "daily_cost_project"
NO_PROGRESS_SIGNAL = "no_progress"

WARNING_TYPES = {LOOP: "loop", BUDGET_AGENT: "cost_exceeded", NO_PROGRESS: "no_progress"}


@dataclass
class Observations:
    """What a cycle read: agents, signals, costs and the episodes already open."""

    now: datetime
    resumed_at: datetime
    agents: list[Agent]
    tool_calls: dict[int, float] = field(default_factory=dict)
    # Agents whose heartbeats were read again this cycle, with (repetition, spike).
    evaluated: dict[int, tuple[Signal | None, Signal | None]] = field(default_factory=dict)
    projects: list[ProjectCost] = field(default_factory=list)
    episodes: dict[EpisodeKey, OpenEpisode] = field(default_factory=dict)


@dataclass
class _AgentConditions:
    liveness: Liveness
    loop: Signal | None = None
    no_progress: Signal | None = None
    budget: Signal | None = None


def plan_cycle(obs: Observations, settings: DetectorSettings) -> Plan:
    """Decide everything one cycle writes."""
    plan = Plan()
    by_project: dict[int, list[Agent]] = defaultdict(list)
    for agent in obs.agents:
        by_project[agent.project_id].append(agent)

    project_budgets = _plan_project_budgets(obs, plan, by_project)
    for agent in obs.agents:
        _plan_agent(agent, obs, settings, plan, project_budgets.get(agent.project_id))
    return plan


def _plan_project_budgets(obs: Observations, plan: Plan,
                          by_project: dict[int, list[Agent]]) -> dict[int, Signal]:
    """Reconcile project-wide budget episodes; return the projects over budget."""
    over: dict[int, Signal] = {}
    for project in obs.projects:
        signal = _project_budget_signal(project)
        start, _ = _reconcile(obs, plan, (project.id, None, BUDGET_PROJECT), signal)
        if signal is not None:
            over[project.id] = signal
        if start is not None and signal is not None:
            stopping = [a for a in by_project[project.id] if a.on_cost_exceeded == "stop"]
            start.then.commands += [_command(a, "stop", signal.message) for a in stopping]

    # A project whose budget was removed has no row, so its open episode ends here.
    for key, episode in obs.episodes.items():
        if key[2] == BUDGET_PROJECT and key[0] not in over and not _is_listed(obs, key[0]):
            plan.ends.append(_end(episode, obs.now))
    return over


def _is_listed(obs: Observations, project_id: int) -> bool:
    return any(project.id == project_id for project in obs.projects)


def _plan_agent(agent: Agent, obs: Observations, settings: DetectorSettings, plan: Plan,
                project_budget: Signal | None) -> None:
    conditions = _conditions(agent, obs, settings, plan)
    alive = conditions.liveness.status == HEALTHY
    hold = settings.loop_clear_seconds if alive else 0.0
    loop = _reconcile_agent(agent, obs, plan, LOOP, conditions.loop, hold)
    no_progress = _reconcile_agent(agent, obs, plan, NO_PROGRESS, conditions.no_progress)
    budget = _reconcile_agent(agent, obs, plan, BUDGET_AGENT, conditions.budget)
    budget = budget or project_budget

    status, reason = _compose_status(agent, conditions.liveness, loop, no_progress, budget)
    if status != agent.status or not same_reason(agent.status_reason, reason):
        plan.status_changes.append(_status_change(agent, status, reason, budget))

    warning = _warning(loop, budget, no_progress)
    if warning != agent.warning:
        plan.warnings[agent.id] = warning


def _conditions(agent: Agent, obs: Observations, settings: DetectorSettings,
                plan: Plan) -> _AgentConditions:
    """Evaluate every condition of one agent; loops and stalls only matter while alive."""
    liveness = judge_liveness(agent, obs.now, obs.resumed_at, settings)
    repetition, spike = _carried_signals(agent, obs, plan)
    conditions = _AgentConditions(liveness, budget=_agent_budget_signal(agent))
    if liveness.status != HEALTHY:
        return conditions

    rate = sig.tool_call_rate(obs.tool_calls.get(agent.id, 0.0), agent.max_tool_calls_per_minute)
    conditions.loop = rate or repetition or spike
    stalled = stalled_seconds(agent, obs.now, obs.resumed_at, settings)
    if stalled is not None:
        conditions.no_progress = _no_progress_signal(agent, stalled, settings)
    return conditions


def _carried_signals(agent: Agent, obs: Observations,
                     plan: Plan) -> tuple[Signal | None, Signal | None]:
    """Return the repetition and spike signals: fresh if re-evaluated, else as stored.

    A stored spike only counts while its bucket is the current or the previous minute.
    """
    stored_repetition = Signal.from_json(agent.repetition) if agent.repetition else None
    stored_spike = Signal.from_json(agent.spike) if agent.spike else None
    if stored_spike is not None and not _is_recent_bucket(stored_spike, obs.now):
        stored_spike = None

    if agent.id in obs.evaluated:
        repetition, spike = obs.evaluated[agent.id]
    else:
        repetition, spike = stored_repetition, stored_spike

    new_rows = (_json(repetition), _json(spike))
    if new_rows != (agent.repetition, agent.spike):
        plan.signals.append((agent.id, *new_rows))
    return repetition, spike


def _is_recent_bucket(spike: Signal, now: datetime) -> bool:
    bucket = datetime.fromisoformat(spike.details["bucket"])
    current = now.replace(second=0, microsecond=0)
    return bucket >= current - timedelta(minutes=1)


def _reconcile_agent(agent: Agent, obs: Observations, plan: Plan, kind: str,
                     signal: Signal | None, hold: float = 0.0) -> Signal | None:
    """Open, continue or end one episode of an agent; return the signal in force.

    While a quiet episode is held open, its last signal stays in force.
    """
    key = (agent.project_id, agent.id, kind)
    start, still_open = _reconcile(obs, plan, key, signal, hold)
    if start is not None:
        start.then.commands += _start_commands(agent, kind, start)
    if signal is not None:
        return signal
    episode = obs.episodes.get(key)
    return _episode_signal(episode) if still_open and episode is not None else None


def _reconcile(obs: Observations, plan: Plan, key: EpisodeKey, signal: Signal | None,
               hold: float = 0.0) -> tuple[EpisodeStart | None, bool]:
    """Open, continue or end the episode under `key`.

    Returns the start if the episode opens now, and whether an episode is open after this
    cycle. With `hold`, an episode whose signal went quiet stays open until it has been
    quiet for that many seconds.
    """
    episode = obs.episodes.get(key)
    if signal is not None and episode is not None:
        value = signal.value if signal.name == episode.signal else episode.value
        plan.touches.append((episode.id, value or 0.0, _episode_details(signal)))
        return None, True
    if signal is not None:
        start = _start(key, signal)
        plan.starts.append(start)
        return start, True
    if episode is None:
        return None, False

    quiet = (obs.now - episode.last_seen_at).total_seconds()
    if quiet < hold:
        return None, True
    plan.ends.append(_end(episode, obs.now))
    return None, False


def _start(key: EpisodeKey, signal: Signal) -> EpisodeStart:
    project_id, agent_id, kind = key
    event = Event(
        project_id, agent_id, EPISODE_EVENTS[kind][0], "warning", signal.name, signal.value,
        signal.threshold, signal.message, signal.details,
    )
    return EpisodeStart(
        project_id, agent_id, kind, signal.name, signal.value, signal.threshold,
        _episode_details(signal), Consequences(events=[event]),
    )


def _end(episode: OpenEpisode, now: datetime) -> EpisodeEnd:
    name = EPISODE_EVENTS[episode.kind][1]
    duration = round((now - episode.started_at).total_seconds())
    message = f"{episode.signal} ended after {duration} s"
    details = {"started_at": episode.started_at.isoformat(), "duration_seconds": duration}
    event = Event(episode.project_id, episode.agent_id, name, "info", episode.signal,
                  episode.value, episode.threshold, message, details)
    return EpisodeEnd(episode, Consequences(events=[event]))


def _start_commands(agent: Agent, kind: str, start: EpisodeStart) -> list[Command]:
    message = start.then.events[0].message or kind
    if kind == NO_PROGRESS and agent.auto_restart:
        return [_command(agent, "restart", message)]
    if kind == BUDGET_AGENT and agent.on_cost_exceeded == "stop":
        return [_command(agent, "stop", message)]
    return []


def _command(agent: Agent, action: str, reason: str) -> Command:
    return Command(agent.project_id, agent.id, action, agent.restart_type,
                   agent.restart_target, reason)


def _compose_status(agent: Agent, liveness: Liveness, loop: Signal | None,
                    no_progress: Signal | None, budget: Signal | None) -> tuple[str, str | None]:
    if liveness.status in (UNKNOWN, DEAD):
        return liveness.status, liveness.reason

    reasons = []
    if liveness.late:
        reasons.append(liveness.reason)
    if loop is not None:
        reasons.append(f"loop: {loop.name}")
    if no_progress is not None:
        reasons.append("no progress")
    if budget is not None:
        reasons.append("budget exceeded")
    if agent.last_client_status in ("error", "warning"):
        reasons.append(f"client status {agent.last_client_status}")
    return (DEGRADED, reasons[0]) if reasons else (HEALTHY, None)


def _status_change(agent: Agent, status: str, reason: str | None,
                   budget: Signal | None) -> StatusChange:
    change = StatusChange(agent, status, reason)
    if status != agent.status:
        severity = {DEAD: "critical", DEGRADED: "warning"}.get(status, "info")
        text = f"{agent.status} -> {status}" + (f": {reason}" if reason else "")
        details = {"from": agent.status, "to": status, "reason": reason}
        change.then.events.append(
            Event(agent.project_id, agent.id, "status_changed", severity, message=text,
                  details=details)
        )

    if reason == SHUTDOWN_REASON and agent.status_reason != SHUTDOWN_REASON:
        change.then.events.append(
            Event(agent.project_id, agent.id, "agent_shutdown", "info",
                  message="the agent reported a requested shutdown")
        )

    # A dead agent whose budget policy stopped it on purpose is left stopped.
    stopped_on_purpose = budget is not None and agent.on_cost_exceeded == "stop"
    if status == DEAD and agent.status != DEAD and agent.auto_restart and not stopped_on_purpose:
        change.then.commands.append(_command(agent, "restart", f"agent dead: {reason}"))
    return change


def _warning(loop: Signal | None, budget: Signal | None,
             no_progress: Signal | None) -> dict[str, Any] | None:
    """Return the warning heartbeat responses carry: a loop first, then cost, then stalls."""
    for kind, signal in ((LOOP, loop), (BUDGET_AGENT, budget), (NO_PROGRESS, no_progress)):
        if signal is not None:
            return {
                "type": WARNING_TYPES[kind],
                "signal": signal.name,
                "value": signal.value,
                "threshold": signal.threshold,
                "message": signal.message,
            }
    return None


def _agent_budget_signal(agent: Agent) -> Signal | None:
    budget = agent.daily_budget_usd
    if budget is None or agent.cost_usd <= budget:
        return None
    return _budget_signal(DAILY_COST_AGENT, "agent", agent.cost_usd, budget, agent.day,
                          agent.timezone, agent.unpriced_calls, agent.unknown_usage_calls)


def _project_budget_signal(project: ProjectCost) -> Signal | None:
    if project.cost_usd <= project.daily_budget_usd:
        return None
    return _budget_signal(DAILY_COST_PROJECT, "project", project.cost_usd,
                          project.daily_budget_usd, project.day, project.timezone,
                          project.unpriced_calls, project.unknown_usage_calls)


def _budget_signal(name: str, owner: str, cost: float, budget: float, day: Any,
                   timezone: str, unpriced: int, unknown: int) -> Signal:
    message = (
        f"Daily cost ${cost:.4f} is over the {owner} budget of ${budget:.2f} "
        f"for {day} ({timezone})"
    )
    if unpriced or unknown:
        message += (
            f"; not included: {unpriced} calls without a known price and {unknown} calls "
            "whose usage never arrived"
        )
    details = {
        "day": str(day),
        "timezone": timezone,
        "cost_usd": cost,
        "budget_usd": budget,
        "unpriced_calls": unpriced,
        "unknown_usage_calls": unknown,
    }
    return Signal(name, round(cost, 6), budget, message, details)


def _no_progress_signal(agent: Agent, stalled: float, settings: DetectorSettings) -> Signal:
    limit = no_progress_limit_seconds(agent, settings)
    message = (
        f"No progress: iteration {agent.last_iteration} unchanged for {stalled:.0f} s "
        f"while heartbeats continue (limit {limit:.0f} s)"
    )
    details = {"iteration": agent.last_iteration}
    return Signal(NO_PROGRESS_SIGNAL, float(round(stalled)), float(limit), message, details)


def _episode_details(signal: Signal) -> dict[str, Any]:
    return {"message": signal.message, **signal.details}


def _episode_signal(episode: OpenEpisode) -> Signal:
    details = dict(episode.details or {})
    message = str(details.pop("message", episode.signal))
    return Signal(episode.signal, episode.value or 0.0, episode.threshold or 0.0, message,
                  details)


def _json(signal: Signal | None) -> dict[str, Any] | None:
    return signal.to_json() if signal is not None else None
