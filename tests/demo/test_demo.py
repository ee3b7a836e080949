"""`clevagent demo` end to end: real PostgreSQL, server, runner, agents and openai client.

Each test runs the demo as a user does, in a subprocess with a data directory of the
test's own, then reads the summary.json and processes.json the demo leaves there.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clevagent_server.demo.processes import DEMO_DIR_VARIABLE, is_running
from clevagent_server.demo.scenario import AGENTS

# The demo ends by itself once every fault was detected, normally within a minute; its
# own cap is 120 s. The rest is room for start-up and stop on a loaded machine.
DEMO_TIMEOUT_SECONDS = 240
STARTED_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 90


def demo_command(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "clevagent_server.demo", "--no-live", "--data-dir",
            str(data_dir)]


def demo_processes(data_dir: Path) -> list[dict[str, object]]:
    return json.loads((data_dir / "processes.json").read_text())["processes"]


def belongs_to_demo(pid: int, data_dir: Path, unreadable: bool) -> bool:
    """Return True if pid runs and is the demo's: by its environment or command line.

    The check guards against a recorded pid that the system already gave to another
    program, which would otherwise fail the test for no fault of the demo. A process
    whose /proc files cannot be read counts as the demo's if `unreadable` is True.
    """
    if not is_running(pid):
        return False
    proc = Path(f"/proc/{pid}")
    try:
        environ = (proc / "environ").read_bytes().split(b"\0")
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return unreadable
    marker = f"{DEMO_DIR_VARIABLE}={data_dir}".encode()
    return marker in environ or str(data_dir).encode() in cmdline


def leftovers(data_dir: Path) -> list[str]:
    """Return the demo's processes still running: recorded ones and any that carry its dir."""
    found = [
        f"{entry['name']} (pid {entry['pid']})"
        for entry in demo_processes(data_dir)
        if belongs_to_demo(int(entry["pid"]), data_dir, unreadable=True)  # type: ignore[call-overload]
    ]
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid != os.getpid() and belongs_to_demo(pid, data_dir, unreadable=False):
            label = f"unrecorded process (pid {pid})"
            if not any(f"(pid {pid})" in item for item in found):
                found.append(label)
    return found


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def test_demo_detects_every_fault_in_time(tmp_path):
    data_dir = tmp_path / "demo"
    started = time.monotonic()
    result = subprocess.run(demo_command(data_dir), capture_output=True, text=True,
                            timeout=DEMO_TIMEOUT_SECONDS)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((data_dir / "summary.json").read_text())
    outcomes = {entry["agent"]: entry for entry in summary["agents"]}

    assert elapsed < 120, f"the demo took {elapsed:.0f} s"
    assert "no real vendor was called" in result.stdout
    assert set(outcomes) == {agent.name for agent in AGENTS}
    for agent in AGENTS:
        outcome = outcomes[agent.name]
        assert outcome["final_status"] == agent.expected_status, outcome
        assert outcome["unexpected_events"] == [], outcome
        if agent.detection is None:
            continue
        assert outcome["detected_at"] is not None, f"{agent.name}: {agent.detection} missing"
        assert 0 <= outcome["latency_seconds"] <= agent.latency_bound_seconds, outcome
    assert summary["leftover_pids"] == []
    assert leftovers(data_dir) == []


def test_demo_records_every_process_it_starts(tmp_path):
    data_dir = tmp_path / "demo"
    subprocess.run(demo_command(data_dir) + ["--duration", "5"], capture_output=True,
                   timeout=DEMO_TIMEOUT_SECONDS)
    names = [str(entry["name"]) for entry in demo_processes(data_dir)]

    assert "postgres" in names
    assert "server" in names
    assert "runner" in names
    for agent in AGENTS:
        assert f"agent:{agent.name}" in names
    assert leftovers(data_dir) == []


def test_demo_stops_everything_on_sigint(tmp_path):
    data_dir = tmp_path / "demo"
    demo = subprocess.Popen(demo_command(data_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        def runner_started() -> bool:
            if demo.poll() is not None:
                pytest.fail(f"the demo exited early:\n{demo.stdout.read()}")  # type: ignore[union-attr]
            try:
                return any(entry["name"] == "runner" for entry in demo_processes(data_dir))
            except (FileNotFoundError, ValueError):
                return False

        wait_for(runner_started, STARTED_TIMEOUT_SECONDS, "the demo to start its runner")
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()

    assert demo.returncode == 130, output
    assert "stopped early by Ctrl-C" in output
    assert "Every process the demo started has exited." in output
    assert leftovers(data_dir) == []
