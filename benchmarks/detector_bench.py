"""Measure one detector cycle at 1,000 and 10,000 agents, with 1 hour and 1 day of history.

The cycle should cost about the same whatever history is stored: it reads the latest
minutes of heartbeats and the running daily totals, never the whole day. The script
prints the median cycle time per case and the ratio between the two history lengths.

Usage (PostgreSQL at 127.0.0.1:5432 with trust auth; a scratch database is created and
dropped):

    python benchmarks/detector_bench.py [--admin-url URL] [--agents 1000 10000] [--cycles 5]

Agents send one heartbeat a minute, spread over the minute. Before each measured cycle,
the heartbeats of the last 10 seconds (a sixth of the agents) arrive, as they would
between two cycles of the default period.
"""

import argparse
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg

from clevagent_server.db.migrate import migrate
from clevagent_server.detectors.cycle import run_cycle

HISTORIES = {"1 hour": timedelta(hours=1), "1 day": timedelta(days=1)}
INTERVAL_SECONDS = 60
MAX_WARM_UP_CYCLES = 40

RESET = """
TRUNCATE heartbeats_free, detector_runs, detector_episodes, detector_agent_signals,
         detector_daily_costs, agent_events, restart_commands, agents, projects CASCADE;
UPDATE detector_state SET last_cycle_at = NULL, resumed_at = NULL,
                          cost_counted_through = NULL, maintained_at = NULL
"""

CREATE_AGENTS = """
WITH project AS (
    INSERT INTO projects (name, daily_budget_usd) VALUES ('bench', 1000) RETURNING id
)
INSERT INTO agents (project_id, name, daily_budget_usd)
SELECT project.id, 'agent-' || n, 100 FROM project, generate_series(1, %(agents)s) AS n
"""

# One heartbeat a minute per agent, each agent at its own second of the minute.
LOAD_HISTORY = """
INSERT INTO heartbeats_free (time, project_id, agent_id, status, message, tokens_used,
                             cost_usd, tool_calls, llm_calls, iteration_count)
SELECT t - make_interval(secs => a.id %% 60), a.project_id, a.id, 'ok', 'working', 500,
       0.001, 1, 1, (extract(epoch FROM t) / 60)::bigint
FROM agents a, generate_series(%(start)s::timestamptz, %(end)s::timestamptz,
                               make_interval(secs => %(interval)s)) AS t
"""

SYNC_AGENTS = """
UPDATE agents a
SET last_heartbeat_at = h.time, last_client_status = 'ok', last_message = 'working',
    last_iteration = h.iteration_count, last_iteration_changed_at = h.time,
    status = 'healthy', status_changed_at = h.time
FROM (SELECT DISTINCT ON (agent_id) agent_id, time, iteration_count
      FROM heartbeats_free ORDER BY agent_id, time DESC) AS h
WHERE a.id = h.agent_id
"""

# The heartbeats of one 10-second slice of the agents, received now.
ARRIVE = """
WITH arrived AS (
    INSERT INTO heartbeats_free (time, project_id, agent_id, status, message, tokens_used,
                                 cost_usd, tool_calls, llm_calls, iteration_count)
    SELECT now(), project_id, id, 'ok', 'working', 500, 0.001, 1, 1,
           (extract(epoch FROM now()) / 60)::bigint
    FROM agents WHERE id %% 6 = %(slice)s
    RETURNING agent_id, time, iteration_count
)
UPDATE agents a
SET last_heartbeat_at = arrived.time, last_iteration = arrived.iteration_count,
    last_iteration_changed_at = arrived.time
FROM arrived WHERE a.id = arrived.agent_id
"""


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    name = f"clevagent_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(psycopg.conninfo.make_conninfo(admin_url, dbname=name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(conn: psycopg.Connection, agents: int, history: timedelta) -> float:
    """Load agents and their history ending now; return the seconds loading took."""
    started = time.monotonic()
    conn.execute(RESET)
    conn.execute("SELECT ensure_heartbeat_partitions(current_date - 2, current_date + 1)")
    conn.execute(CREATE_AGENTS, {"agents": agents})
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    end = row[0]
    conn.execute(LOAD_HISTORY, {"start": end - history, "end": end,
                                "interval": INTERVAL_SECONDS})
    conn.execute(SYNC_AGENTS)
    conn.execute("ANALYZE")
    return time.monotonic() - started


def warm_up(conn: psycopg.Connection) -> int:
    """Run cycles until the daily cost totals have caught up with the history."""
    for cycle in range(1, MAX_WARM_UP_CYCLES + 1):
        result = run_cycle(conn)
        if result.error:
            raise RuntimeError(f"warm-up cycle failed: {result.error}")
        row = conn.execute(
            "SELECT cost_counted_through >= now() - interval '2 minutes' FROM detector_state"
        ).fetchone()
        if row and row[0]:
            return cycle
    raise RuntimeError(f"cost totals did not catch up in {MAX_WARM_UP_CYCLES} cycles")


def measure(conn: psycopg.Connection, cycles: int) -> list[float]:
    durations = []
    for n in range(cycles):
        conn.execute(ARRIVE, {"slice": n % 6})
        started = time.monotonic()
        result = run_cycle(conn)
        durations.append(time.monotonic() - started)
        if result.error:
            raise RuntimeError(f"measured cycle failed: {result.error}")
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL URL with the right to create databases")
    parser.add_argument("--agents", type=int, nargs="+", default=[1000, 10000],
                        help="agent counts to measure")
    parser.add_argument("--cycles", type=int, default=5, help="measured cycles per case")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    print("| agents | history | heartbeats stored | load s | warm-up cycles | "
          "cycle median ms | cycle max ms |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    medians: dict[tuple[int, str], float] = {}
    with scratch_database(args.admin_url) as url:
        migrate(url, "postgres")
        with psycopg.connect(url, autocommit=True) as conn:
            for agents in args.agents:
                for label, history in HISTORIES.items():
                    loaded = prepare(conn, agents, history)
                    stored_row = conn.execute("SELECT count(*) FROM heartbeats_free").fetchone()
                    stored = stored_row[0] if stored_row else 0
                    warm = warm_up(conn)
                    durations = measure(conn, args.cycles)
                    median = statistics.median(durations)
                    medians[(agents, label)] = median
                    print(f"| {agents:,} | {label} | {stored:,} | {loaded:.0f} | {warm} | "
                          f"{median * 1000:.0f} | {max(durations) * 1000:.0f} |", flush=True)

    print()
    for agents in args.agents:
        ratio = medians[(agents, "1 day")] / medians[(agents, "1 hour")]
        print(f"{agents:,} agents: 1 day / 1 hour = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
