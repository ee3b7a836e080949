"""What the demo watches while it runs: the fleet through the API, events from the database.

The fleet table comes from GET /api/v1/status, as any client would read it. Events and
the moments faults started come from the database and the agents' fault files, because
the demo times each detection from the fault's start to the event that reported it.
"""

import json
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from clevagent_server.demo import database
from clevagent_server.demo.agents import fault_file
from clevagent_server.demo.scenario import AGENTS, OVERSPENDING, DemoAgent

# Events that report something wrong with an agent. An agent that sets off one of these
# other than its own detection (and the restart attempt before a restart) fails the demo.
ALERT_EVENTS = frozenset(
    {
        "loop_started",
        "no_progress_started",
        "budget_exceeded",
        "restart_attempt",
        "restart_succeeded",
        "restart_failed",
        "crash_loop",
        "gave_up",
        "budget_stop",
    }
)
COMPANION_EVENTS = {"restart_succeeded": {"restart_attempt"}}

STATUS_TIMEOUT_SECONDS = 5.0


@dataclass
class FleetRow:
    name: str
    status: str
    reason: str | None
    last_heartbeat_at: str | None
    tokens_today: int
    cost_usd_today: float


@dataclass
class Outcome:
    """The record of how the stack handled one demo agent."""

    agent: DemoAgent
    fault_at: datetime | None = None
    detected_at: datetime | None = None
    final_status: str | None = None
    final_reason: str | None = None
    unexpected: list[str] = field(default_factory=list)

    @property
    def latency_seconds(self) -> float | None:
        if self.fault_at is None or self.detected_at is None:
            return None
        return (self.detected_at - self.fault_at).total_seconds()

    @property
    def detected(self) -> bool:
        return self.agent.detection is None or self.detected_at is not None

    @property
    def passed(self) -> bool:
        latency = self.latency_seconds
        in_time = self.agent.detection is None or (
            latency is not None and latency <= self.agent.latency_bound_seconds
        )
        right_status = self.final_status == self.agent.expected_status
        return in_time and right_status and not self.unexpected

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent.name,
            "fault": self.agent.fault,
            "detection": self.agent.detection,
            "fault_at": self.fault_at.isoformat() if self.fault_at else None,
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
            "latency_seconds": self.latency_seconds,
            "latency_bound_seconds": self.agent.latency_bound_seconds,
            "expected_status": self.agent.expected_status,
            "final_status": self.final_status,
            "final_reason": self.final_reason,
            "unexpected_events": self.unexpected,
            "passed": self.passed,
        }


class Observer:
    """Polls the running demo; each poll() returns the events that arrived since the last."""

    def __init__(
        self, conn: psycopg.Connection, api_url: str, api_key: str, project_id: int, run_dir: Path
    ) -> None:
        self._conn = conn
        self.api_url = api_url
        self._api_key = api_key
        self._project_id = project_id
        self._run_dir = run_dir
        self._last_event_id = 0
        # Loopback calls must not go through a proxy configured in the environment.
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.fleet: dict[str, FleetRow] = {}
        self.events: list[dict[str, Any]] = []
        self.outcomes = {agent.name: Outcome(agent) for agent in AGENTS}

    def poll(self) -> list[dict[str, Any]]:
        self.fleet = self._read_fleet()
        fresh = database.new_events(self._conn, self._project_id, self._last_event_id)
        if fresh:
            self._last_event_id = fresh[-1]["id"]
            self.events.extend(fresh)
        for outcome in self.outcomes.values():
            self._update(outcome, fresh)
        return fresh

    def complete(self) -> bool:
        """Return True once every fault was detected and every agent has its expected status."""
        return all(
            outcome.detected and outcome.final_status == outcome.agent.expected_status
            for outcome in self.outcomes.values()
        )

    def _read_fleet(self) -> dict[str, FleetRow]:
        request = urllib.request.Request(
            f"{self.api_url}/api/v1/status?limit=100", headers={"X-API-Key": self._api_key}
        )
        with self._http.open(request, timeout=STATUS_TIMEOUT_SECONDS) as response:
            body = json.load(response)
        return {
            row["name"]: FleetRow(
                row["name"],
                row["status"],
                row.get("status_reason"),
                row.get("last_heartbeat_at"),
                int(row.get("tokens_today") or 0),
                float(row.get("cost_usd_today") or 0.0),
            )
            for row in body["agents"]
        }

    def _update(self, outcome: Outcome, fresh: list[dict[str, Any]]) -> None:
        agent = outcome.agent
        row = self.fleet.get(agent.name)
        if row is not None:
            outcome.final_status, outcome.final_reason = row.status, row.reason
        if outcome.fault_at is None:
            outcome.fault_at = self._fault_start(agent)

        allowed = {agent.detection} | COMPANION_EVENTS.get(agent.detection or "", set())
        for event in fresh:
            if event["agent"] != agent.name:
                continue
            if event["type"] == agent.detection and outcome.detected_at is None:
                outcome.detected_at = event["time"]
            elif event["type"] in ALERT_EVENTS and event["type"] not in allowed:
                outcome.unexpected.append(event["type"])
            elif _is_death(event):
                outcome.unexpected.append("status_changed to dead")

    def _fault_start(self, agent: DemoAgent) -> datetime | None:
        if agent.behaviour == OVERSPENDING:
            budget = float(agent.settings["daily_budget_usd"])
            return database.budget_crossed_at(self._conn, self._project_id, agent.name, budget)
        try:
            recorded = json.loads(fault_file(self._run_dir, agent.name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return datetime.fromtimestamp(recorded["time"], UTC)


def _is_death(event: dict[str, Any]) -> bool:
    details = event.get("details") or {}
    return event["type"] == "status_changed" and details.get("to") == "dead"
