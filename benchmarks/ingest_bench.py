"""Load benchmark of heartbeat ingest against baselines measured in the same run.

One command creates a scratch database, starts every server itself on 127.0.0.1, and runs
these scenarios, interleaved, for a number of rounds:

  noop          a FastAPI app whose POST /api/v1/heartbeat only validates the body with the
                server's Heartbeat model (one uvicorn worker), under wrk
  single        `clevagent serve`, POST /api/v1/heartbeat, one heartbeat a request, under wrk
  batch         `clevagent serve`, POST /api/v1/heartbeat/batch, 100 heartbeats a request
  raw-insert    the same rows written by psycopg straight into the plan's heartbeats table
                with a plain INSERT ... SELECT FROM unnest, 100 rows a transaction

It prints a table, the ratios single/noop and batch/raw-insert, and writes
benchmarks/results/ingest.json. Every process it starts is stopped by pid, and the scratch
database is dropped, also when a scenario fails.

    python benchmarks/ingest_bench.py [--duration 12] [--rounds 2] [--workers 1 2]
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "heartbeats.lua"
RESULTS_DIR = BENCH_DIR / "results"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH_SIZE = 100
SINGLE_TARGET = 0.5
BATCH_TARGET = 0.25
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class Settings:
    duration: float
    warmup: float
    rounds: int
    connections: int
    batch_connections: int
    threads: int
    workers: list[int]
    agents: int
    keys: int
    raw_connections: int
    admin_url: str


@dataclass
class Measurement:
    """One scenario of one round. Rates are per second of the measured window."""

    scenario: str
    round: int
    workers: int | None
    requests_per_second: float
    heartbeats_per_second: float
    latency_p50_ms: float
    latency_p99_ms: float
    errors: int
    # CPU milliseconds per heartbeat of the server (or baseline client) process tree and of
    # its PostgreSQL backends. Other load on a shared machine disturbs them less than the
    # rates. None where a scenario has no such process.
    process_cpu_ms_per_heartbeat: float | None = None
    database_cpu_ms_per_heartbeat: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Processes


class ServerProcess:
    """A server started by the benchmark. stop() ends it and its workers by pid."""

    def __init__(
        self, name: str, command: list[str], health_url: str, env: dict[str, str], workers: int
    ):
        self.name = name
        self.workers = workers
        self.health_url = health_url
        log_path = RESULTS_DIR / f"{name}.log"
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"see {self._log.name}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not respond on {self.health_url} within "
                           f"{READY_TIMEOUT_SECONDS:.0f} s; see {self._log.name}")

    def stop(self) -> None:
        # uvicorn's supervisor stops its workers on SIGTERM. The recorded worker pids are
        # killed afterwards in case one of them outlived it.
        workers = _descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in workers:
            _kill_if_alive(pid)
        self._log.close()


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found.append(child)
        found.extend(_descendants(child))
    return found


def _kill_if_alive(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def process_cpu_seconds(pids: list[int]) -> float:
    """Return the user plus system CPU seconds the given processes used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of proc_pid_stat(5), 12 and 13 after the name.
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def backend_pids(database_url: str) -> list[int]:
    """Return the pids of the PostgreSQL backends connected to the database right now."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clevagent_command() -> str:
    return str(Path(sys.executable).with_name("clevagent"))


# ---------------------------------------------------------------------------------------
# Database, project and keys


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """Create a database with a unique name, yield its URL, and drop it afterwards."""
    name = f"clevagent_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", admin_url, count=1)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cli(*args: str) -> Any:
    result = subprocess.run(
        [clevagent_command(), *args], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"clevagent {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return json.loads(result.stdout) if "--json" in args else result.stdout


def create_project(database_url: str, key_count: int) -> tuple[int, list[str]]:
    """Migrate, create the enterprise-plan project, and create its keys in parallel."""
    run_cli("db", "migrate", "--database-url", database_url)
    project = run_cli(
        "project", "create", "bench", "--plan", "enterprise", "--json",
        "--database-url", database_url,
    )

    def create_key(index: int) -> str:
        created = run_cli(
            "key", "create", "bench", "--name", f"bench-{index}", "--json",
            "--database-url", database_url,
        )
        return str(created["key"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(create_key, range(key_count)))
    return int(project["id"]), keys


# ---------------------------------------------------------------------------------------
# wrk scenarios


def run_wrk(
    settings: Settings, url: str, items: int, keys: list[str], tag: str, duration: float
) -> dict[str, Any]:
    """Run wrk with the heartbeat script and return the numbers its done() printed."""
    connections = settings.connections if items == 1 else settings.batch_connections
    command = [
        "wrk", "-t", str(settings.threads), "-c", str(connections),
        "-d", f"{duration:g}s", "--timeout", "10s", "-s", str(LUA_SCRIPT), url,
        "--", str(items), str(settings.agents), ",".join(keys), tag,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    for line in result.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            return dict(json.loads(line.removeprefix("WRK_RESULT ")))
    raise RuntimeError(f"wrk printed no result (exit {result.returncode}): "
                       f"{result.stdout[-500:]} {result.stderr[-500:]}")


def measure_wrk(
    settings: Settings, scenario: str, round_number: int, server: ServerProcess,
    path: str, items: int, keys: list[str], database_url: str | None,
) -> Measurement:
    workers = server.workers
    tag = f"{scenario}-{workers}-r{round_number}"
    url = base_url(server) + path
    if settings.warmup > 0:
        run_wrk(settings, url, items, keys, f"{tag}-warmup", settings.warmup)

    server_pids = [server.process.pid, *_descendants(server.process.pid)]
    database_pids = backend_pids(database_url) if database_url else []
    server_cpu = process_cpu_seconds(server_pids)
    database_cpu = process_cpu_seconds(database_pids)
    numbers = run_wrk(settings, url, items, keys, tag, settings.duration)
    server_cpu = process_cpu_seconds(server_pids) - server_cpu
    database_cpu = process_cpu_seconds(database_pids) - database_cpu

    seconds = numbers["duration_us"] / 1e6
    requests_per_second = numbers["requests"] / seconds
    heartbeats = max(1, numbers["requests"] * items)
    errors = sum(numbers["errors"].values())
    return Measurement(
        scenario=scenario,
        round=round_number,
        workers=workers,
        requests_per_second=requests_per_second,
        heartbeats_per_second=requests_per_second * items,
        latency_p50_ms=numbers["latency_p50_us"] / 1000,
        latency_p99_ms=numbers["latency_p99_us"] / 1000,
        errors=errors,
        process_cpu_ms_per_heartbeat=server_cpu * 1000 / heartbeats,
        database_cpu_ms_per_heartbeat=(
            database_cpu * 1000 / heartbeats if database_url else None
        ),
        extra={"wrk": numbers},
    )


# ---------------------------------------------------------------------------------------
# The raw PostgreSQL baseline, run as its own process like wrk


def measure_raw(
    settings: Settings, database_url: str, project_id: int, round_number: int
) -> Measurement:
    command = [
        sys.executable, str(Path(__file__).resolve()), "raw-insert",
        "--database-url", database_url, "--project-id", str(project_id),
        "--connections", str(settings.raw_connections), "--agents", str(settings.agents),
        "--duration", f"{settings.duration:g}", "--warmup", f"{settings.warmup:g}",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=settings.duration + 120
    )
    if result.returncode != 0:
        raise RuntimeError(f"raw-insert failed: {result.stderr[-2000:]}")
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    return Measurement(
        scenario="raw-insert",
        round=round_number,
        workers=None,
        requests_per_second=numbers["transactions_per_second"],
        heartbeats_per_second=numbers["rows_per_second"],
        latency_p50_ms=numbers["latency_p50_ms"],
        latency_p99_ms=numbers["latency_p99_ms"],
        errors=0,
        process_cpu_ms_per_heartbeat=numbers["client_cpu_ms_per_row"],
        database_cpu_ms_per_heartbeat=numbers["database_cpu_ms_per_row"],
        extra={"raw": numbers},
    )


def raw_insert_main(args: argparse.Namespace) -> None:
    """Insert 100-row transactions from several connections; print rows/s as JSON."""
    from clevagent_server.db import queries
    from clevagent_server.db.database import connection_options

    with psycopg.connect(args.database_url) as conn:
        table, agent_ids = _raw_targets(conn, args.project_id, args.agents)
    statement = queries.for_table("ingest/insert_heartbeats", table)

    start = time.monotonic() + 0.5
    measure_from = start + args.warmup
    stop_at = measure_from + args.duration
    latencies: list[list[float]] = [[] for _ in range(args.connections)]
    backends: list[int] = []
    # The backends exit with their connections, so their CPU time is read before that.
    stopped = threading.Barrier(args.connections + 1)
    measured = threading.Barrier(args.connections + 1)

    def insert_loop(index: int) -> None:
        options = connection_options(args.database_url)
        with psycopg.connect(args.database_url, **options) as conn:  # type: ignore[arg-type]
            backends.append(conn.info.backend_pid)
            rows = _RawRows(args.project_id, agent_ids, index)
            while time.monotonic() < start:
                time.sleep(0.01)
            while (began := time.monotonic()) < stop_at:
                with conn.transaction():
                    conn.execute(statement, rows.next_batch())
                if began >= measure_from:
                    latencies[index].append(time.monotonic() - began)
            stopped.wait()
            measured.wait()

    threads = [threading.Thread(target=insert_loop, args=(i,)) for i in range(args.connections)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.monotonic()))
    client_cpu = time.process_time()
    database_cpu = process_cpu_seconds(backends)
    stopped.wait()
    client_cpu = time.process_time() - client_cpu
    database_cpu = process_cpu_seconds(backends) - database_cpu
    measured.wait()
    for thread in threads:
        thread.join()

    merged = sorted(value for values in latencies for value in values)
    rows = max(1, len(merged) * BATCH_SIZE)
    print(json.dumps({
        "table": table,
        "connections": args.connections,
        "transactions_per_second": len(merged) / args.duration,
        "rows_per_second": len(merged) * BATCH_SIZE / args.duration,
        "latency_p50_ms": _percentile(merged, 50) * 1000,
        "latency_p99_ms": _percentile(merged, 99) * 1000,
        "client_cpu_ms_per_row": client_cpu * 1000 / rows,
        "database_cpu_ms_per_row": database_cpu * 1000 / rows,
    }))


def _raw_targets(conn: psycopg.Connection, project_id: int, agents: int) -> tuple[str, list[int]]:
    table = conn.execute(
        "SELECT pl.heartbeats_table FROM projects p JOIN plans pl ON pl.name = p.plan "
        "WHERE p.id = %s",
        (project_id,),
    ).fetchone()
    agent_ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM agents WHERE project_id = %s ORDER BY id", (project_id,)
        )
    ]
    if table is None or len(agent_ids) < agents:
        raise SystemExit(f"project {project_id} has {len(agent_ids)} agents, expected "
                         f"{agents}: run the server scenarios first, they create them")
    return str(table[0]), agent_ids


class _RawRows:
    """The rows the wrk script sends, as the server would store them, 100 at a time."""

    def __init__(self, project_id: int, agent_ids: list[int], connection_index: int):
        self.project_id = project_id
        self.agent_ids = agent_ids
        self.instance = f"raw-c{connection_index}"
        self.next_agent = connection_index * 7919 % len(agent_ids)
        self.sequences = [0] * len(agent_ids)

    def next_batch(self) -> dict[str, list[Any]]:
        now = datetime.now(UTC)
        picked = [(self.next_agent + i) % len(self.agent_ids) for i in range(BATCH_SIZE)]
        self.next_agent = (self.next_agent + BATCH_SIZE) % len(self.agent_ids)
        for agent in picked:
            self.sequences[agent] += 1
        nothing: list[Any] = [None] * BATCH_SIZE
        return {
            "time": [now] * BATCH_SIZE,
            "project_id": [self.project_id] * BATCH_SIZE,
            "agent_id": [self.agent_ids[a] for a in picked],
            "client_time": [now.replace(microsecond=0)] * BATCH_SIZE,
            "status": ["ok"] * BATCH_SIZE,
            "message": nothing,
            "message_truncated": [False] * BATCH_SIZE,
            "tokens_used": [1200 + a % 300 for a in picked],
            "cost_usd": [0.0042 + (a % 10) * 0.0001 for a in picked],
            "cost_source": ["client"] * BATCH_SIZE,
            "tool_calls": [a % 5 for a in picked],
            "iteration_count": [self.sequences[a] for a in picked],
            "memory_mb": [150.5] * BATCH_SIZE,
            "input_tokens": nothing,
            "output_tokens": nothing,
            "cached_tokens": nothing,
            "cache_write_tokens": nothing,
            "reasoning_tokens": nothing,
            "llm_calls": nothing,
            "unpriced_calls": nothing,
            "unknown_usage_calls": nothing,
            "usage": nothing,
            "fingerprints": nothing,
            "instance_id": [f"{self.instance}-a{a}" for a in picked],
            "seq": [self.sequences[a] for a in picked],
            "source": ["sdk"] * BATCH_SIZE,
        }


def _percentile(sorted_values: list[float], percent: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(len(sorted_values) * percent / 100))
    return sorted_values[index]


# ---------------------------------------------------------------------------------------
# The no-op baseline server


def noop_server_main(args: argparse.Namespace) -> None:
    """Serve a FastAPI app that validates heartbeats with the server's model and stores nothing."""
    import uvicorn
    from fastapi import FastAPI

    from clevagent_server.ingest.models import Heartbeat

    app = FastAPI()

    @app.post("/api/v1/heartbeat")
    async def post_heartbeat(heartbeat: Heartbeat) -> dict[str, Any]:
        return {"received": True, "agent": heartbeat.agent}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


# ---------------------------------------------------------------------------------------
# The run


def create_agents(server: ServerProcess, count: int, key: str) -> None:
    """Send one heartbeat per agent name, so no measured window pays for creating agents."""
    url = base_url(server) + "/api/v1/heartbeat/batch"
    for first in range(0, count, BATCH_SIZE):
        items = [
            {"agent": f"bench-agent-{agent}", "agent_type": "benchmark", "source": "sdk"}
            for agent in range(first, min(count, first + BATCH_SIZE))
        ]
        request = urllib.request.Request(
            url,
            data=json.dumps({"heartbeats": items}).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": key},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 200:
                raise RuntimeError(f"creating agents failed with HTTP {response.status}")


def start_servers(settings: Settings, database_url: str) -> dict[str, ServerProcess]:
    """Start the no-op app and one `clevagent serve` per worker count, and wait for all."""
    env = dict(os.environ)
    servers: dict[str, ServerProcess] = {}
    try:
        port = free_port()
        servers["noop"] = ServerProcess(
            "noop",
            [sys.executable, str(Path(__file__).resolve()), "noop-server", "--port", str(port)],
            f"http://127.0.0.1:{port}/healthz",
            env,
            workers=1,
        )
        for workers in settings.workers:
            port = free_port()
            servers[f"serve-{workers}"] = ServerProcess(
                f"serve-{workers}",
                [clevagent_command(), "serve", "--database-url", database_url,
                 "--port", str(port), "--workers", str(workers), "--log-level", "WARNING"],
                f"http://127.0.0.1:{port}/healthz",
                env,
                workers=workers,
            )
            # Migrations run at start; let each server finish before the next one starts.
            servers[f"serve-{workers}"].wait_ready()
        servers["noop"].wait_ready()
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: dict[str, ServerProcess]) -> None:
    for server in servers.values():
        server.stop()


def base_url(server: ServerProcess) -> str:
    return server.health_url.removesuffix("/healthz")


def run_round(
    settings: Settings, round_number: int, servers: dict[str, ServerProcess],
    database_url: str, project_id: int, keys: list[str],
) -> list[Measurement]:
    results: list[Measurement] = []
    noop = measure_wrk(settings, "noop", round_number, servers["noop"], "/api/v1/heartbeat",
                       1, keys, None)
    results.append(noop)
    report(noop)

    for workers in settings.workers:
        server = servers[f"serve-{workers}"]
        single = measure_wrk(settings, "single", round_number, server, "/api/v1/heartbeat",
                             1, keys, database_url)
        report(single)
        batch = measure_wrk(settings, "batch", round_number, server,
                            "/api/v1/heartbeat/batch", BATCH_SIZE, keys, database_url)
        report(batch)
        results += [single, batch]

    results.append(measure_raw(settings, database_url, project_id, round_number))
    report(results[-1])
    return results


def report(measurement: Measurement) -> None:
    workers = "-" if measurement.workers is None else str(measurement.workers)
    print(
        f"{measurement.round:>5}  {measurement.scenario:<11}{workers:>7}"
        f"{measurement.requests_per_second:>12,.0f}{measurement.heartbeats_per_second:>14,.0f}"
        f"{measurement.latency_p50_ms:>9.1f}{measurement.latency_p99_ms:>9.1f}"
        f"{measurement.errors:>8}{_format_cpu(measurement.process_cpu_ms_per_heartbeat):>10}"
        f"{_format_cpu(measurement.database_cpu_ms_per_heartbeat):>10}",
        flush=True,
    )


def _format_cpu(milliseconds: float | None) -> str:
    return "-" if milliseconds is None else f"{milliseconds:.3f}"


def ratios(results: list[Measurement], settings: Settings) -> list[dict[str, Any]]:
    """Compute, per round and worker count, single/noop and batch/raw-insert."""
    rows = []
    for round_number in range(1, settings.rounds + 1):
        in_round = {(m.scenario, m.workers): m for m in results if m.round == round_number}
        noop = in_round[("noop", 1)].heartbeats_per_second
        raw = in_round[("raw-insert", None)].heartbeats_per_second
        for workers in settings.workers:
            single = in_round[("single", workers)].heartbeats_per_second / noop
            batch = in_round[("batch", workers)].heartbeats_per_second / raw
            rows.append({
                "round": round_number,
                "workers": workers,
                "single_over_noop": single,
                "batch_over_raw_insert": batch,
                "single_target_met": single >= SINGLE_TARGET,
                "batch_target_met": batch >= BATCH_TARGET,
            })
    return rows


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def bench_main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found on PATH: install it, for example `apt-get install wrk`")

    settings = Settings(
        duration=args.duration, warmup=args.warmup, rounds=args.rounds,
        connections=args.connections, batch_connections=args.batch_connections,
        threads=args.threads, workers=args.workers,
        agents=args.agents, keys=args.keys, raw_connections=args.raw_connections,
        admin_url=args.admin_url,
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    info = machine()
    results: list[Measurement] = []

    with scratch_database(settings.admin_url) as database_url:
        project_id, keys = create_project(database_url, settings.keys)
        servers = start_servers(settings, database_url)
        try:
            create_agents(servers[f"serve-{settings.workers[0]}"], settings.agents, keys[0])
            print("round  scenario   workers  requests/s  heartbeats/s  p50 ms  p99 ms  errors"
                  "  cpu ms/hb  db ms/hb")
            for round_number in range(1, settings.rounds + 1):
                results += run_round(settings, round_number, servers, database_url,
                                     project_id, keys)
        finally:
            stop_servers(servers)

    summary = ratios(results, settings)
    print_ratios(summary)
    failed = [m for m in results if m.errors]
    if failed:
        # wrk counts non-2xx responses (a 429 from the rate limiter, a 503) as errors. The
        # rates of such a scenario include cheap error responses, so they are not comparable.
        names = ", ".join(f"{m.scenario} (round {m.round})" for m in failed)
        print(f"\nWARNING: requests failed in {names}; see benchmarks/results/*.log")
    write_results(started, info, settings, results, summary)


def print_ratios(summary: list[dict[str, Any]]) -> None:
    print(f"\nround  workers  single/noop (target {SINGLE_TARGET})  "
          f"batch/raw-insert (target {BATCH_TARGET})")
    for row in summary:
        single_mark = "met" if row["single_target_met"] else "NOT met"
        batch_mark = "met" if row["batch_target_met"] else "NOT met"
        print(f"{row['round']:>5}  {row['workers']:>7}  {row['single_over_noop']:>8.2f} "
              f"{single_mark:<19}{row['batch_over_raw_insert']:>8.2f} {batch_mark}")


def write_results(
    started: datetime, info: dict[str, Any], settings: Settings,
    results: list[Measurement], summary: list[dict[str, Any]],
) -> None:
    info["load_average_at_end"] = os.getloadavg()
    document = {
        "started_at": started.isoformat(),
        "machine": info,
        "settings": {k: v for k, v in asdict(settings).items() if k != "admin_url"},
        "measurements": [asdict(m) for m in results],
        "ratios": summary,
    }
    path = RESULTS_DIR / "ingest.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {path}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")

    parser.add_argument("--duration", type=float, default=12.0,
                        help="Seconds measured per scenario and round.")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="Seconds of unmeasured load before each measurement.")
    parser.add_argument("--rounds", type=int, default=2,
                        help="How many times the scenarios run, interleaved.")
    parser.add_argument("--connections", type=int, default=32,
                        help="wrk connections (concurrent requests).")
    parser.add_argument("--batch-connections", type=int, default=8,
                        help="wrk connections of the batch scenario; with --agents 1000 "
                             "more than 10 would put one agent in several requests at once.")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="Worker counts of `clevagent serve` to measure, e.g. 1 2.")
    parser.add_argument("--agents", type=int, default=1000,
                        help="Distinct agent names the heartbeats cycle through.")
    parser.add_argument("--keys", type=int, default=8,
                        help="API keys the requests rotate through, to stay under the "
                             "per-key rate limit.")
    parser.add_argument("--raw-connections", type=int, default=4,
                        help="Connections of the raw-insert baseline.")
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help="PostgreSQL URL allowed to create and drop the scratch database.")

    noop = commands.add_parser("noop-server", help="Serve the no-op baseline app.")
    noop.add_argument("--port", type=int, required=True)

    raw = commands.add_parser("raw-insert", help="Run the raw PostgreSQL insert baseline.")
    raw.add_argument("--database-url", required=True)
    raw.add_argument("--project-id", type=int, required=True)
    raw.add_argument("--connections", type=int, default=4)
    raw.add_argument("--agents", type=int, default=1000)
    raw.add_argument("--duration", type=float, default=12.0)
    raw.add_argument("--warmup", type=float, default=2.0)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.command == "noop-server":
        noop_server_main(args)
    elif args.command == "raw-insert":
        raw_insert_main(args)
    else:
        bench_main(args)


if __name__ == "__main__":
    main()
