"""One detector cycle: read what changed, decide, write, and record the run.

A cycle runs in one transaction under a transaction-level advisory lock, so two cycles
started at once never both write: the second one finds the lock taken and skips.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import class_row

from clevagent_server.db import queries
from clevagent_server.detectors import signals as sig
from clevagent_server.detectors.decide import Observations, plan_cycle
from clevagent_server.detectors.model import Agent, OpenEpisode, ProjectCost
from clevagent_server.detectors.settings import DetectorSettings
from clevagent_server.detectors.signals import RecentHeartbeat, Signal, TokenBucket
from clevagent_server.detectors.store import execute, write_plan

logger = logging.getLogger(__name__)

# Arbitrary constants, distinct from the migration runner's lock key.
CYCLE_LOCK_KEY = 7_362_548_010
LEADER_LOCK_KEY = 7_362_548_011

# The first cycle evaluates repetition and spikes for agents seen this recently. Later
# cycles evaluate the agents whose heartbeats arrived since the previous one.
FIRST_EVALUATION_WINDOW = timedelta(hours=1)

# A budget day starts at most 25 hours before now, on the day clocks go back. Counting
# from 26 hours back therefore covers today in every timezone.
COST_HORIZON = timedelta(hours=26)

# How long one cycle may spend catching up on uncounted cost before it moves on.
COST_CATCH_UP_BUDGET_SECONDS = 3.0


@dataclass(frozen=True)
class CycleResult:
    """The outcome of one cycle. `ran` is False when another cycle held the lock."""

    now: datetime
    ran: bool
    agents_checked: int = 0
    events_written: int = 0
    commands_queued: int = 0
    duration_seconds: float = 0.0
    error: str | None = None


@dataclass
class _State:
    last_cycle_at: datetime | None
    resumed_at: datetime | None
    cost_counted_through: datetime | None
    maintained_at: datetime | None


def run_cycle(conn: psycopg.Connection, now: datetime | None = None,
              settings: DetectorSettings | None = None) -> CycleResult:
    """Run one detection cycle at `now` (the database clock when None) and commit it.

    A failing query is logged and recorded in detector_runs with its error; the cycle's
    writes are rolled back, so a failure never marks anyone dead. Tests pass `now` to
    control time.
    """
    settings = settings or DetectorSettings()
    started = time.monotonic()
    if now is None:
        now = _database_now(conn)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")

    try:
        with conn.transaction():
            result = _locked_cycle(conn, now, settings, started)
    except psycopg.Error as error:
        logger.exception("detector cycle at %s failed; retrying next cycle", now.isoformat())
        _record_failure(conn, now, started, error)
        return CycleResult(now, ran=True, error=str(error))
    _commit(conn)

    if result.ran:
        _maintain(conn, now, settings)
    return result


def _locked_cycle(conn: psycopg.Connection, now: datetime, settings: DetectorSettings,
                  started: float) -> CycleResult:
    locked = execute(conn, "try_cycle_lock", {"key": CYCLE_LOCK_KEY}).fetchone()
    if not locked or not locked[0]:
        logger.info("another detector cycle is running; skipping the cycle at %s",
                    now.isoformat())
        return CycleResult(now, ran=False)

    state = _load_state(conn)
    resumed_at = _resumed_at(state, now, settings)
    _count_costs(conn, state, now, settings)
    obs = _observe(conn, state, now, resumed_at, settings)
    events, commands = write_plan(conn, plan_cycle(obs, settings), now)
    _save_state(conn, state, now, resumed_at)

    result = CycleResult(now, True, len(obs.agents), events, commands,
                         time.monotonic() - started)
    _record_run(conn, result)
    return result


def _database_now(conn: psycopg.Connection) -> datetime:
    row = execute(conn, "database_now").fetchone()
    _commit(conn)
    assert row is not None
    return row[0]


def _commit(conn: psycopg.Connection) -> None:
    # A caller's non-autocommit connection would otherwise keep the cycle's transaction
    # open, holding row locks that ingest waits for.
    if not conn.autocommit:
        conn.commit()


def _load_state(conn: psycopg.Connection) -> _State:
    row = execute(conn, "load_state").fetchone()
    if row is None:
        raise RuntimeError("detector_state has no row; run the migrations")
    return _State(*row)


def _resumed_at(state: _State, now: datetime, settings: DetectorSettings) -> datetime:
    """Return the moment since which the detector has been running without a gap."""
    last, resumed = state.last_cycle_at, state.resumed_at
    gap = None if last is None else (now - last).total_seconds()
    if resumed is None or gap is None or gap > settings.outage_after_seconds:
        if last is not None:
            logger.warning("detector was not running for %.0f s before %s; silence in that "
                           "gap is not counted against agents", gap, now.isoformat())
        return now
    return resumed


def _count_costs(conn: psycopg.Connection, state: _State, now: datetime,
                 settings: DetectorSettings) -> None:
    """Add the heartbeats received since the watermark to the daily cost totals.

    A watermark far behind (a first run, or a detector that was down) is caught up in
    chunks, one statement each, until COST_CATCH_UP_BUDGET_SECONDS have passed; later
    cycles count the rest.
    """
    target = now - timedelta(seconds=settings.cost_lag_seconds)
    after = max(state.cost_counted_through or target - COST_HORIZON, target - COST_HORIZON)
    chunk = timedelta(seconds=settings.cost_catch_up_seconds)
    deadline = time.monotonic() + COST_CATCH_UP_BUDGET_SECONDS

    while after < target and time.monotonic() < deadline:
        through = min(target, after + chunk)
        execute(conn, "count_costs", {"after": after, "through": through})
        state.cost_counted_through = after = through


def _observe(conn: psycopg.Connection, state: _State, now: datetime, resumed_at: datetime,
             settings: DetectorSettings) -> Observations:
    with conn.cursor(row_factory=class_row(Agent)) as cursor:
        agents = cursor.execute(queries.load("detectors/load_agents"), {"now": now}).fetchall()
    obs = Observations(now, resumed_at, agents)

    rows = execute(conn, "tool_call_rates", {"now": now}).fetchall()
    obs.tool_calls = {agent_id: tool_calls for agent_id, tool_calls in rows}
    due = _due_for_evaluation(agents, state, now, settings)
    obs.evaluated = _evaluate(conn, due, now, settings)

    with conn.cursor(row_factory=class_row(ProjectCost)) as cursor:
        obs.projects = cursor.execute(queries.load("detectors/load_project_costs"),
                                      {"now": now}).fetchall()
    with conn.cursor(row_factory=class_row(OpenEpisode)) as cursor:
        episodes = cursor.execute(queries.load("detectors/load_open_episodes")).fetchall()
    obs.episodes = {(e.project_id, e.agent_id, e.kind): e for e in episodes}
    return obs


def _due_for_evaluation(agents: list[Agent], state: _State, now: datetime,
                        settings: DetectorSettings) -> list[Agent]:
    """Return the agents with heartbeats that arrived since the previous cycle read."""
    since = state.last_cycle_at or now - FIRST_EVALUATION_WINDOW
    since -= timedelta(seconds=settings.reevaluate_margin_seconds)
    return [a for a in agents if a.last_heartbeat_at is not None and a.last_heartbeat_at > since]


def _evaluate(conn: psycopg.Connection, agents: list[Agent], now: datetime,
              settings: DetectorSettings) -> dict[int, tuple[Signal | None, Signal | None]]:
    """Re-evaluate repetition and token spikes of the given agents."""
    if not agents:
        return {}
    recent = _recent_heartbeats(conn, agents, now)
    buckets = _token_buckets(conn, agents, now, settings)
    evaluated = {}
    for agent in agents:
        repetition = sig.repetition(recent.get(agent.id, []), agent.max_identical_messages)
        spike = sig.token_spike(buckets.get(agent.id, []), agent.token_spike_multiplier,
                                settings.spike_min_history)
        evaluated[agent.id] = (repetition, spike)
    return evaluated


def _recent_heartbeats(conn: psycopg.Connection, agents: list[Agent],
                       now: datetime) -> dict[int, list[RecentHeartbeat]]:
    """Return each agent's latest heartbeats, oldest first, enough for every period."""
    counts = [a.max_identical_messages * max(sig.REPETITION_PERIODS) for a in agents]
    since = [
        now - min(timedelta(days=1),
                  max(timedelta(minutes=10),
                      timedelta(seconds=2 * count * a.expected_interval_seconds)))
        for a, count in zip(agents, counts, strict=True)
    ]
    params = {"agent_id": [a.id for a in agents], "count": counts, "since": since, "now": now}
    rows = execute(conn, "recent_heartbeats", params).fetchall()

    recent: dict[int, list[RecentHeartbeat]] = defaultdict(list)
    for agent_id, *columns in rows:
        recent[agent_id].append(RecentHeartbeat(*columns))
    for heartbeats in recent.values():
        heartbeats.reverse()
    return recent


def _token_buckets(conn: psycopg.Connection, agents: list[Agent], now: datetime,
                   settings: DetectorSettings) -> dict[int, list[TokenBucket]]:
    """Return the current and previous minute's buckets with their rolling averages."""
    current = now.astimezone(UTC).replace(second=0, microsecond=0)
    window = timedelta(minutes=settings.spike_window_minutes)
    params = {
        "agent_id": [a.id for a in agents],
        "since": current - window - timedelta(minutes=1),
        "recent_from": current - timedelta(minutes=1),
        "window": window,
        "now": now,
    }
    rows = execute(conn, "token_buckets", params).fetchall()
    buckets: dict[int, list[TokenBucket]] = defaultdict(list)
    for agent_id, *columns in rows:
        buckets[agent_id].append(TokenBucket(*columns))
    return buckets


def _save_state(conn: psycopg.Connection, state: _State, now: datetime,
                resumed_at: datetime) -> None:
    params = {
        "last_cycle_at": now,
        "resumed_at": resumed_at,
        "cost_counted_through": state.cost_counted_through,
    }
    execute(conn, "save_state", params)


def _record_run(conn: psycopg.Connection, result: CycleResult, error: str | None = None) -> None:
    params = {
        "started_at": result.now,
        "finished_at": result.now + timedelta(seconds=result.duration_seconds),
        "duration_seconds": result.duration_seconds,
        "agents_checked": result.agents_checked,
        "events_written": result.events_written,
        "error": error,
    }
    execute(conn, "record_run", params)


def _record_failure(conn: psycopg.Connection, now: datetime, started: float,
                    error: Exception) -> None:
    """Record a failed cycle, if the database still responds."""
    result = CycleResult(now, True, duration_seconds=time.monotonic() - started)
    try:
        if not conn.closed:
            with conn.transaction():
                _record_run(conn, result, error=str(error)[:2000])
            _commit(conn)
    except psycopg.Error:
        logger.warning("could not record the failed detector cycle at %s", now.isoformat())


def _maintain(conn: psycopg.Connection, now: datetime, settings: DetectorSettings) -> None:
    """Create and expire heartbeat partitions and prune detector tables, every few minutes.

    Runs in its own transaction after the cycle, so that a slow DDL step never keeps
    the locks on the agent rows the cycle wrote.
    """
    try:
        with conn.transaction():
            state = _load_state(conn)
            due = state.maintained_at is None or (
                (now - state.maintained_at).total_seconds() >= settings.maintenance_every_seconds
            )
            if not due:
                return
            created = execute(conn, "ensure_partitions", {"now": now}).fetchone()
            dropped = execute(conn, "expire_heartbeats", {"now": now}).fetchone()
            execute(conn, "prune_history", {"now": now})
            execute(conn, "mark_maintained", {"now": now})
        _commit(conn)
        logger.info("heartbeat partitions: %s created, %s expired",
                    created[0] if created else 0, dropped[0] if dropped else 0)
    except psycopg.Error:
        logger.exception("detector maintenance at %s failed; retrying next cycle",
                         now.isoformat())
