"""Process lifecycle with real processes: fork, SIGTERM, SIGINT and interpreter exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import agent_status, heartbeat_rows, wait_until
from scripted_ingest import ScriptedIngest


def start_agent(tmp_path: Path, body: str, endpoint: str,
                **env: str) -> subprocess.Popen[str]:
    """Start a Python agent whose script prints "ready" once set up."""
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(body))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CLEVAGENT_ENDPOINT": endpoint, **env})
    _started.append(process)
    return process


@pytest.fixture(autouse=True)
def reap_agents() -> Iterator[None]:
    """Kill agents a failed test left running and close their pipes."""
    yield
    for process in _started:
        if process.poll() is None:
            process.kill()
        process.communicate()
    _started.clear()


_started: list[subprocess.Popen[str]] = []


def finish(process: subprocess.Popen[str], timeout: float = 10) -> tuple[int, str, str]:
    """Wait for the agent to end; return its exit code, stdout and stderr."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", f"agent did not start: {line!r} {process.stderr}"


SLEEPING_AGENT = """
    import time, clevagent
    {setup}
    clevagent.init(api_key="cv_test", agent="lifecycle-agent", interval=60)
    clevagent.log_cost(tokens=42, cost_usd=0.01)
    print("ready", flush=True)
    time.sleep(60)
"""


def test_sigterm_with_default_handler(scripted: ScriptedIngest, tmp_path: Path) -> None:
    process = start_agent(tmp_path, SLEEPING_AGENT.format(setup=""), scripted.url)
    wait_ready(process)
    scripted.wait_for(1)

    process.send_signal(signal.SIGTERM)

    assert finish(process)[0] == -signal.SIGTERM
    final = scripted.received[-1].body
    assert final["status"] == "shutdown"
    assert sum(r.body["tokens_used"] for r in scripted.received) == 42


def test_sigterm_chains_application_handler(scripted: ScriptedIngest, tmp_path: Path) -> None:
    setup = textwrap.dedent("""
        import signal, sys
        def on_term(signum, frame):
            print("application handler", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, on_term)
    """).replace("\n", "\n    ")
    process = start_agent(tmp_path, SLEEPING_AGENT.format(setup=setup), scripted.url)
    wait_ready(process)
    scripted.wait_for(1)

    process.send_signal(signal.SIGTERM)

    code, out, _ = finish(process)
    assert code == 3
    assert out == "application handler\n"
    assert scripted.received[-1].body["status"] == "shutdown"


def test_sigint_still_raises_keyboard_interrupt(scripted: ScriptedIngest,
                                                tmp_path: Path) -> None:
    process = start_agent(tmp_path, SLEEPING_AGENT.format(setup=""), scripted.url)
    wait_ready(process)
    scripted.wait_for(1)

    process.send_signal(signal.SIGINT)

    # An uncaught KeyboardInterrupt ends Python by SIGINT, after the exit hooks ran.
    code, _, err = finish(process)
    assert code == -signal.SIGINT
    assert "KeyboardInterrupt" in err
    assert scripted.received[-1].body["status"] == "shutdown"


def test_interpreter_exit_sends_final_heartbeat(scripted: ScriptedIngest,
                                                tmp_path: Path) -> None:
    body = """
        import clevagent
        clevagent.init(api_key="cv_test", agent="exiting-agent")
        clevagent.ping(tokens=7, iteration_count=3)
        print("ready", flush=True)
    """
    process = start_agent(tmp_path, body, scripted.url)

    assert finish(process)[0] == 0
    final = scripted.wait_until(lambda r: any(x.body["status"] == "shutdown" for x in r))[-1]
    assert final.body["status"] == "shutdown"
    assert final.body["iteration_count"] == 3
    assert sum(r.body["tokens_used"] for r in scripted.received) == 7


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_exit_never_hangs_on_silent_server(black_hole: str, tmp_path: Path) -> None:
    body = """
        import clevagent
        clevagent.init(api_key="cv_test", agent="stuck-agent", shutdown_timeout=1)
        clevagent.log_cost(tokens=1, cost_usd=0.1)
        print("ready", flush=True)
    """
    started = time.monotonic()
    process = start_agent(tmp_path, body, black_hole)

    code, _, err = finish(process, 15)
    assert code == 0
    assert time.monotonic() - started < 6
    assert err == ""


FORKING_AGENT = """
    import os, time, clevagent
    clevagent.init(api_key=os.environ["CLEVAGENT_API_KEY"], agent="forking-agent",
                   interval=1)
    clevagent.log_cost(tokens=10, cost_usd=0.1)
    time.sleep(1.5)

    child = os.fork()
    if child == 0:
        clevagent.log_cost(tokens=5, cost_usd=0.05)
        clevagent.shutdown(timeout=5)
        os._exit(0)

    _, status = os.waitpid(child, 0)
    clevagent.log_cost(tokens=1, cost_usd=0.01)
    print("ready", flush=True)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


def test_fork_gives_child_its_own_instance(fast_server: Any, tmp_path: Path) -> None:
    server = fast_server
    process = start_agent(tmp_path, FORKING_AGENT, server.url, CLEVAGENT_API_KEY=server.api_key)
    code, out, err = finish(process, 20)
    assert code == 0, err
    assert out == "ready\n0\n"

    rows = heartbeat_rows(server, "forking-agent")
    instances = {row["instance_id"] for row in rows}
    assert len(instances) == 2
    shutdowns = [row["instance_id"] for row in rows if row["status"] == "shutdown"]
    assert sorted(shutdowns) == sorted(instances)
    entry = wait_until(lambda: agent_status(server, "forking-agent"), what="the agent")
    assert entry["tokens_today"] == 16
    assert entry["cost_usd_today"] == pytest.approx(0.16)
