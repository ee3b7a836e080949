"""A small fleet with known numbers, for checking what every query returns.

Project acme (free plan, UTC, daily budget $1):
  alpha    healthy; a heartbeat a minute for the last hour: 100 tokens, $0.01, 2 tool calls
  bravo    dead, silent for 10 minutes before that
  charlie  degraded by a tool_call_rate loop; 100 tokens a minute, then 1,000 a minute for
           the last 5 minutes (a token spike of 10 times)
  delta    degraded, no progress for 20 minutes; $0.02 a minute against a $0.50 budget
  golf     registered, never seen (unknown)
  hotel    disabled (left out of every count)
Project o'brien labs (pro plan, Asia/Tokyo, no budget): its quote tests the escaping.
  echo's runner  healthy; restarted 4 times in 4 minutes, then a crash loop; 30 unpriced
                 calls and 20 calls with unknown usage
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

ACME = "acme"
OBRIEN = "o'brien labs"


@dataclass(frozen=True)
class Heartbeat:
    agent: str
    time: datetime
    tokens: int
    cost: float | None
    tool_calls: int = 0
    iteration: int | None = None
    memory_mb: float | None = None
    llm_calls: int = 0
    unpriced_calls: int = 0
    unknown_usage_calls: int = 0


@dataclass
class Seed:
    """The seeded database and what was put into it."""

    url: str
    flavour: str
    now: datetime
    minute: datetime
    project_ids: dict[str, int] = field(default_factory=dict)
    agent_ids: dict[str, int] = field(default_factory=dict)
    agent_projects: dict[str, str] = field(default_factory=dict)
    day_starts: dict[str, datetime] = field(default_factory=dict)
    heartbeats: list[Heartbeat] = field(default_factory=list)

    def cost_today(self, agent: str) -> float:
        start = self.day_starts[self.agent_projects[agent]]
        return sum(h.cost or 0 for h in self.heartbeats if h.agent == agent and h.time >= start)

    def tokens_today(self, agent: str) -> int:
        start = self.day_starts[self.agent_projects[agent]]
        return sum(h.tokens for h in self.heartbeats if h.agent == agent and h.time >= start)

    def project_cost_today(self, project: str) -> float:
        agents = [a for a, p in self.agent_projects.items() if p == project]
        return sum(self.cost_today(agent) for agent in agents)


AGENTS = [
    # name, project, status, reason, enabled
    ("alpha", ACME, "healthy", None, True),
    ("bravo", ACME, "dead", "no heartbeat for 600 s", True),
    ("charlie", ACME, "degraded", "loop: tool_call_rate", True),
    ("delta", ACME, "degraded", "no progress", True),
    ("golf", ACME, "unknown", None, True),
    ("hotel", ACME, "dead", "no heartbeat for 9000 s", False),
    ("echo's runner", OBRIEN, "healthy", None, True),
]


def _heartbeats(minute: datetime) -> list[Heartbeat]:
    def at(k: int) -> datetime:
        return minute - timedelta(minutes=k)

    rows = [
        Heartbeat("alpha", at(k), 100, 0.01, 2, 1000 + 59 - k, 100.0 + 59 - k, llm_calls=1)
        for k in range(60)
    ]
    rows += [Heartbeat("bravo", at(k), 50, 0.005, iteration=7) for k in range(10, 60)]
    rows += [
        Heartbeat("charlie", at(k), 1000 if k < 5 else 100, 0.02, 30, iteration=500 + 59 - k)
        for k in range(60)
    ]
    rows += [Heartbeat("delta", at(k), 10, 0.02, iteration=42) for k in range(30)]
    rows += [
        Heartbeat("echo's runner", at(k), 10, None, iteration=k, llm_calls=3, unpriced_calls=3,
                  unknown_usage_calls=2)
        for k in range(10)
    ]
    return rows


def _insert_projects(conn: psycopg.Connection, seed: Seed) -> None:
    for name, plan, timezone, budget in ((ACME, "free", "UTC", 1.0),
                                         (OBRIEN, "pro", "Asia/Tokyo", None)):
        row = conn.execute(
            "INSERT INTO projects (name, plan, budget_timezone, daily_budget_usd)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (name, plan, timezone, budget),
        ).fetchone()
        assert row is not None
        seed.project_ids[name] = row[0]
        start = conn.execute(
            "SELECT date_trunc('day', now() AT TIME ZONE %s) AT TIME ZONE %s", (timezone, timezone)
        ).fetchone()
        assert start is not None
        seed.day_starts[name] = start[0]


def _insert_agents(conn: psycopg.Connection, seed: Seed) -> None:
    warnings = {
        "charlie": {"type": "loop", "signal": "tool_call_rate", "value": 30.0, "threshold": 10.0,
                    "message": "30 tool calls a minute"},
        "delta": {"type": "no_progress", "signal": None, "value": 1200.0, "threshold": 600.0,
                  "message": "no progress for 20 minutes"},
    }
    last_seen = {"alpha": 0, "bravo": 10, "charlie": 0, "delta": 0, "echo's runner": 0}
    for name, project, status, reason, enabled in AGENTS:
        seen = last_seen.get(name)
        row = conn.execute(
            """INSERT INTO agents (project_id, name, status, status_reason, enabled,
                                   last_heartbeat_at, last_iteration_changed_at, warning,
                                   daily_budget_usd, restart_type, restart_target, created_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (
                seed.project_ids[project], name, status, reason, enabled,
                None if seen is None else seed.minute - timedelta(minutes=seen),
                seed.minute - timedelta(minutes=20 if name == "delta" else 0),
                Jsonb(warnings[name]) if name in warnings else None,
                0.5 if name == "delta" else None,
                "docker" if name == "echo's runner" else None,
                "echo-container" if name == "echo's runner" else None,
                seed.now - timedelta(days=2),
            ),
        ).fetchone()
        assert row is not None
        seed.agent_ids[name] = row[0]
        seed.agent_projects[name] = project


def _insert_heartbeats(conn: psycopg.Connection, seed: Seed) -> None:
    tables = {ACME: "heartbeats_free", OBRIEN: "heartbeats_pro"}
    for project, table in tables.items():
        rows = [h for h in seed.heartbeats if seed.agent_projects[h.agent] == project]
        columns = list(zip(*[
            (h.time, seed.project_ids[project], seed.agent_ids[h.agent], h.tokens, h.cost,
             h.tool_calls, h.iteration, h.memory_mb, h.tokens * 3 // 5, h.tokens * 2 // 5,
             h.llm_calls, h.unpriced_calls, h.unknown_usage_calls)
            for h in rows
        ], strict=True))
        # One statement per table: the TimescaleDB test server cannot take pipelined inserts.
        conn.execute(
            f"""INSERT INTO {table} (time, project_id, agent_id, status, tokens_used, cost_usd,
                    tool_calls, iteration_count, memory_mb, input_tokens, output_tokens,
                    llm_calls, unpriced_calls, unknown_usage_calls)
                SELECT t, p, a, 'ok', tk, c, tc, it, mem, inp, outp, llm, unp, unk
                FROM unnest(%s::timestamptz[], %s::bigint[], %s::bigint[], %s::bigint[],
                            %s::double precision[], %s::integer[], %s::bigint[],
                            %s::double precision[], %s::bigint[], %s::bigint[], %s::integer[],
                            %s::integer[], %s::integer[])
                     AS u(t, p, a, tk, c, tc, it, mem, inp, outp, llm, unp, unk)""",
            [list(column) for column in columns],
        )


def _event(seed: Seed, agent: str, seconds_ago: int, type_: str, **fields: object) -> tuple:
    return (
        seed.now - timedelta(seconds=seconds_ago),
        seed.project_ids[seed.agent_projects[agent]],
        seed.agent_ids[agent],
        type_,
        fields.get("severity", "info"),
        fields.get("signal"),
        fields.get("value"),
        fields.get("threshold"),
        fields.get("message"),
        Jsonb(fields["details"]) if "details" in fields else None,
    )


def _insert_events(conn: psycopg.Connection, seed: Seed) -> None:
    restart = {"target": "echo-container", "type": "docker"}
    events = [
        _event(seed, "charlie", 180, "loop_started", severity="warning",
               signal="tool_call_rate", value=30.0, threshold=10.0, message="30 tool calls"),
        _event(seed, "charlie", 120, "loop_started", severity="warning",
               signal="token_spike", value=1000.0, threshold=300.0),
        _event(seed, "delta", 1200, "no_progress_started", severity="warning"),
        _event(seed, "delta", 600, "budget_exceeded", severity="warning",
               signal="daily_cost_agent", value=0.52, threshold=0.5),
        _event(seed, "bravo", 300, "status_changed", severity="critical",
               details={"from": "healthy", "to": "dead", "reason": "no heartbeat for 190 s"}),
        *[
            _event(seed, "echo's runner", 60 * k, "restart_attempt",
                   details={**restart, "attempt": 5 - k, "exit_code": 1, "reason": "dead"})
            for k in (1, 2, 3, 4)
        ],
        *[
            _event(seed, "echo's runner", 60 * k - 30, "restart_succeeded", details=restart)
            for k in (3, 4)
        ],
        _event(seed, "echo's runner", 30, "crash_loop", severity="critical",
               details={**restart, "attempt": 4, "exit_code": 1, "reason": "exited 4 times"}),
    ]
    for event in events:
        conn.execute(
            """INSERT INTO agent_events (time, project_id, agent_id, type, severity, signal,
                                         value, threshold, message, details)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            event,
        )


def _insert_commands(conn: psycopg.Connection, seed: Seed) -> None:
    for agent, status, minutes_ago in (("bravo", "pending", 2), ("echo's runner", "completed", 5)):
        conn.execute(
            """INSERT INTO restart_commands (project_id, agent_id, type, target, reason, status,
                                             created_at)
               VALUES (%s, %s, 'docker', %s, 'dead', %s, %s)""",
            (seed.project_ids[seed.agent_projects[agent]], seed.agent_ids[agent],
             agent + "-container", status, seed.now - timedelta(minutes=minutes_ago)),
        )


def _insert_detector_runs(conn: psycopg.Connection, seed: Seed) -> None:
    """A clean run 10 minutes ago, then a failed one a minute ago: stalled for 10 minutes."""
    for minutes_ago, error in ((10, None), (1, "connection reset")):
        started = seed.now - timedelta(minutes=minutes_ago, seconds=2)
        conn.execute(
            """INSERT INTO detector_runs (started_at, finished_at, duration_seconds,
                                          agents_checked, events_written, error)
               VALUES (%s, %s, 2.0, 6, 1, %s)""",
            (started, started + timedelta(seconds=2), error),
        )


def seed_fleet(conn: psycopg.Connection, url: str, flavour: str) -> Seed:
    row = conn.execute("SELECT now(), date_trunc('minute', now())").fetchone()
    assert row is not None
    now, minute = row[0].astimezone(UTC), row[1].astimezone(UTC)
    seed = Seed(url=url, flavour=flavour, now=now, minute=minute)
    seed.heartbeats = _heartbeats(minute)
    _insert_projects(conn, seed)
    _insert_agents(conn, seed)
    _insert_heartbeats(conn, seed)
    _insert_events(conn, seed)
    _insert_commands(conn, seed)
    _insert_detector_runs(conn, seed)
    return seed
