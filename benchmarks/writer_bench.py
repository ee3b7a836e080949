"""Benchmark of the heartbeat writer's statement against a plain insert of the same rows.

The server stores each group of heartbeats with one statement
(sql/queries/ingest/write_heartbeats.sql): the sequence-number check, the insert and the
update of every agent's latest state. This benchmark runs that statement in a loop on one
connection, as the writer does, without HTTP, and in the same run the raw-insert baseline
of ingest_bench.py (sql/queries/ingest/insert_heartbeats.sql) on the same rows. It reports
per flush the wall time, the client's CPU time and the PostgreSQL backend's CPU time, and
the ratio of the writer's wall time per row to the baseline's.

psycopg prepares a statement after five runs, so the loop measures PostgreSQL's generic
plan, as a long-running server gets it.

    python benchmarks/writer_bench.py [--flushes 500] [--sizes 14 100] [--rounds 2]
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_bench import (  # noqa: E402
    ADMIN_URL,
    RESULTS_DIR,
    create_project,
    machine,
    process_cpu_seconds,
    scratch_database,
)

from clevagent_server.db import queries  # noqa: E402
from clevagent_server.ingest.writer import (  # noqa: E402
    HeartbeatRow,
    _parameters,
    write_statement,
)

AGENTS = 1000
WARMUP_FLUSHES = 30
TABLE = "heartbeats_enterprise"


@dataclass
class Measurement:
    round: int
    scenario: str
    rows_per_flush: int
    flushes: int
    wall_us_per_flush: float
    client_cpu_us_per_flush: float
    database_cpu_us_per_flush: float


class Rows:
    """SDK-like heartbeats for AGENTS agents, each instance's sequence number growing."""

    def __init__(self, project_id: int, agent_ids: list[int]) -> None:
        self.project_id = project_id
        self.agent_ids = agent_ids
        self.count = 0

    def group(self, size: int) -> list[HeartbeatRow]:
        now = datetime.now(UTC)
        rows = []
        for _ in range(size):
            self.count += 1
            agent = self.count % len(self.agent_ids)
            rows.append(
                HeartbeatRow(
                    time=now,
                    project_id=self.project_id,
                    agent_id=self.agent_ids[agent],
                    heartbeats_table=TABLE,
                    client_time=now.replace(microsecond=0),
                    status="ok",
                    message=None,
                    message_truncated=False,
                    tokens_used=1200 + agent % 300,
                    cost_usd=0.0042,
                    cost_source="client",
                    tool_calls=agent % 5,
                    iteration_count=self.count,
                    memory_mb=150.5,
                    input_tokens=None,
                    output_tokens=None,
                    cached_tokens=None,
                    cache_write_tokens=None,
                    reasoning_tokens=None,
                    llm_calls=None,
                    unpriced_calls=None,
                    unknown_usage_calls=None,
                    usage=None,
                    fingerprints=None,
                    instance_id=f"bench-a{agent}",
                    seq=self.count,
                    source="sdk",
                    agent_type="benchmark",
                    busy_seconds=None,
                    busy_reason=None,
                    restart_type=None,
                    restart_target=None,
                )
            )
        return rows


def raw_parameters(rows: list[HeartbeatRow]) -> dict[str, list[Any]]:
    """Return insert_heartbeats.sql's column arrays for rows."""
    names = [
        "time",
        "project_id",
        "agent_id",
        "client_time",
        "status",
        "message",
        "message_truncated",
        "tokens_used",
        "cost_usd",
        "cost_source",
        "tool_calls",
        "iteration_count",
        "memory_mb",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "llm_calls",
        "unpriced_calls",
        "unknown_usage_calls",
        "instance_id",
        "seq",
        "source",
    ]
    columns: dict[str, list[Any]] = {name: [getattr(r, name) for r in rows] for name in names}
    columns["usage"] = [None] * len(rows)
    columns["fingerprints"] = [None] * len(rows)
    return columns


def measure(
    conn: psycopg.Connection,
    scenario: str,
    round_number: int,
    size: int,
    flushes: int,
    run_one: Any,
) -> Measurement:
    for _ in range(WARMUP_FLUSHES):
        run_one(size)
    backend = [conn.info.backend_pid]
    database_cpu = process_cpu_seconds(backend)
    client_cpu = time.process_time()
    started = time.perf_counter()
    for _ in range(flushes):
        run_one(size)
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    database_cpu = process_cpu_seconds(backend) - database_cpu
    return Measurement(
        round_number,
        scenario,
        size,
        flushes,
        wall / flushes * 1e6,
        client_cpu / flushes * 1e6,
        database_cpu / flushes * 1e6,
    )


def run(args: argparse.Namespace) -> list[Measurement]:
    results: list[Measurement] = []
    with scratch_database(args.admin_url) as url:
        project_id, _ = create_project(url, 1)
        with psycopg.connect(url, autocommit=True) as conn:
            names = [f"bench-agent-{n}" for n in range(AGENTS)]
            conn.execute(
                queries.load("ingest/create_agents"),
                {"project_id": project_id, "name": names, "agent_type": ["benchmark"] * AGENTS},
            )
            agent_ids = [row[0] for row in conn.execute("SELECT id FROM agents ORDER BY id")]
            rows = Rows(project_id, agent_ids)
            writer_statement = write_statement((TABLE,)).as_bytes(conn)
            raw_statement = queries.for_table("ingest/insert_heartbeats", TABLE)

            def write(size: int) -> None:
                conn.execute(writer_statement, _parameters(rows.group(size))).fetchall()

            def raw_insert(size: int) -> None:
                conn.execute(raw_statement, raw_parameters(rows.group(size)))

            for round_number in range(1, args.rounds + 1):
                for size in args.sizes:
                    for scenario, run_one in (("writer", write), ("raw-insert", raw_insert)):
                        result = measure(conn, scenario, round_number, size, args.flushes, run_one)
                        results.append(result)
                        print(
                            f"round {round_number}  {scenario:<10} {size:>4} rows  "
                            f"wall {result.wall_us_per_flush:8.0f} us  "
                            f"client {result.client_cpu_us_per_flush:7.0f} us  "
                            f"database {result.database_cpu_us_per_flush:7.0f} us",
                            flush=True,
                        )
    return results


def ratios(results: list[Measurement]) -> list[dict[str, Any]]:
    """Return, per round and size, the writer's wall time per row over the baseline's."""
    by_key = {(m.round, m.rows_per_flush, m.scenario): m for m in results}
    summary = []
    for (round_number, size, scenario), writer in sorted(by_key.items()):
        if scenario != "writer":
            continue
        raw = by_key[(round_number, size, "raw-insert")]
        summary.append(
            {
                "round": round_number,
                "rows_per_flush": size,
                "writer_over_raw_wall": writer.wall_us_per_flush / raw.wall_us_per_flush,
            }
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flushes", type=int, default=500, help="Flushes measured per case.")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[14, 100], help="Rows per flush to measure."
    )
    parser.add_argument("--rounds", type=int, default=2, help="Repetitions of every case.")
    parser.add_argument(
        "--admin-url",
        default=ADMIN_URL,
        help="PostgreSQL URL allowed to create and drop the scratch database.",
    )
    args = parser.parse_args()
    if args.flushes < 1 or args.rounds < 1 or min(args.sizes) < 1:
        parser.error("--flushes, --rounds and --sizes must be at least 1")

    results = run(args)
    summary = ratios(results)
    for line in summary:
        print(
            f"round {line['round']}  {line['rows_per_flush']:>4} rows  writer/raw-insert "
            f"wall {line['writer_over_raw_wall']:.2f}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    output = RESULTS_DIR / "writer.json"
    output.write_text(
        json.dumps(
            {
                "machine": machine(),
                "settings": vars(args),
                "measurements": [asdict(m) for m in results],
                "ratios": summary,
            },
            indent=2,
        )
    )
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
