"""The five demo agents: what each one does wrong, what should catch it, and how fast.

The orchestrator, the agent processes, the view and the end-to-end test all read these
definitions, so a change of timing is made here once.
"""

from dataclasses import dataclass, field
from typing import Any

# Every demo agent sends a heartbeat each second. The demo lowers the enterprise plan's
# minimum interval to this in its private database, because the plan's 5 s would make the
# demo several times slower.
HEARTBEAT_SECONDS = 1
DEMO_PLAN = "enterprise"

# Seconds between detector cycles in the demo's server, deliberately not a multiple of the
# heartbeat interval. A cycle skips the status change of an agent whose heartbeat arrives
# while it runs, and the SDK schedules its next heartbeat one interval after the previous
# one returned. With equal periods the two can stay in step, and an agent's status then
# lags its detection event (seen for a minute with 1 s and 1 s).
DETECTOR_INTERVAL_SECONDS = 1.5

# Agents behave well for this long before their fault starts, so the fleet table first
# shows everyone healthy.
NORMAL_PHASE_SECONDS = 6.0

# An agent process exits on its own after this long, so that one left behind by a demo
# that was killed with SIGKILL does not run forever.
AGENT_MAX_SECONDS = 600.0

# The server prices the stand-in's usage with genai-prices, which has prices for these
# OpenAI models, so the cost shown is what the vendor would charge for the same usage.
CHEAP_MODEL = "gpt-4o-mini"
EXPENSIVE_MODEL = "gpt-4o"

HEALTHY = "healthy"
LOOPING = "looping"
OVERSPENDING = "overspending"
CRASHING = "crashing"
HANGING = "hanging"


@dataclass(frozen=True)
class DemoAgent:
    """One demo agent process and what the demo expects the stack to do about it."""

    name: str
    behaviour: str
    # The fault in a few words, or None for the agent that stays healthy.
    fault: str | None
    # The agent_events type that shows the fault was caught; None when nothing should fire.
    detection: str | None
    expected_status: str
    # Seconds from the fault's start to the detection event. The typical latency on an
    # idle machine is a few seconds; the bound leaves room for a loaded one.
    latency_bound_seconds: float
    # Settings sent with PUT /api/v1/agents/{id} before the agent starts.
    settings: dict[str, Any] = field(default_factory=dict)
    # The runner watches this agent's PID file and relaunches it when it dies.
    watched_by_runner: bool = False


AGENTS: tuple[DemoAgent, ...] = (
    DemoAgent(
        name="healthy-summarizer",
        behaviour=HEALTHY,
        fault=None,
        detection=None,
        expected_status="healthy",
        latency_bound_seconds=0.0,
        settings={"expected_interval_seconds": HEARTBEAT_SECONDS},
    ),
    DemoAgent(
        name="looping-researcher",
        behaviour=LOOPING,
        fault="repeats one tool call, 3 per second",
        detection="loop_started",
        expected_status="degraded",
        latency_bound_seconds=30.0,
        settings={
            "expected_interval_seconds": HEARTBEAT_SECONDS,
            "max_tool_calls_per_minute": 10,
            "max_identical_messages": 5,
        },
    ),
    DemoAgent(
        name="overspending-writer",
        behaviour=OVERSPENDING,
        fault="spends past its $0.50 daily budget",
        detection="budget_exceeded",
        expected_status="degraded",
        latency_bound_seconds=30.0,
        settings={"expected_interval_seconds": HEARTBEAT_SECONDS, "daily_budget_usd": 0.50},
    ),
    DemoAgent(
        name="crashing-scraper",
        behaviour=CRASHING,
        fault="exits with status 3",
        detection="restart_succeeded",
        expected_status="healthy",
        latency_bound_seconds=30.0,
        settings={"expected_interval_seconds": HEARTBEAT_SECONDS, "auto_restart": True},
        watched_by_runner=True,
    ),
    DemoAgent(
        name="hanging-classifier",
        behaviour=HANGING,
        fault="blocks forever; heartbeats go on",
        detection="no_progress_started",
        expected_status="degraded",
        latency_bound_seconds=40.0,
        settings={"expected_interval_seconds": HEARTBEAT_SECONDS},
    ),
)


def agent_named(name: str) -> DemoAgent:
    """Return the demo agent called name; raise KeyError naming the known ones if none is."""
    for agent in AGENTS:
        if agent.name == name:
            return agent
    known = ", ".join(agent.name for agent in AGENTS)
    raise KeyError(f"no demo agent {name!r}; the demo agents are {known}")
