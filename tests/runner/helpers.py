"""Helpers of the runner tests: the fake agent, detached processes, stand-in tools."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


def agent_command(pidfile: Path | str, *extra: str) -> str:
    """Return a shell command line that runs the fake agent."""
    return " ".join([sys.executable, str(FAKE_AGENT), str(pidfile), *extra])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_for(condition: Callable[[], object], timeout: float = 10.0, step: float = 0.05) -> object:
    """Poll condition until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"condition not met within {timeout} s")


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


class Processes:
    """Starts processes detached from the test (so they are nobody's child here) and
    kills every one of them, by pid, at teardown."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def detached(self, command: str) -> int:
        done = subprocess.run(["/bin/sh", "-c", f"{command} >/dev/null 2>&1 & echo $!"],
                              capture_output=True, text=True, check=True)
        pid = int(done.stdout.strip())
        self.pids.append(pid)
        return pid

    def track(self, pid: int) -> None:
        self.pids.append(pid)

    def kill_all(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


STANDINS = Path(__file__).with_name("standins")


class StandIn:
    """A stand-in executable on PATH whose state is a JSON file the test edits."""

    def __init__(self, state_path: Path, initial: dict) -> None:
        self.path = state_path
        self.write({**initial, "calls": []})

    def read(self) -> dict:
        return json.loads(self.path.read_text())

    def write(self, state: dict) -> None:
        self.path.write_text(json.dumps(state))

    def calls(self) -> list[list[str]]:
        return self.read()["calls"]


def install_standin(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    initial: dict) -> StandIn:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDINS / (name + ".py")} "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_STATE", str(tmp_path / f"{name}.json"))
    return StandIn(tmp_path / f"{name}.json", initial)
