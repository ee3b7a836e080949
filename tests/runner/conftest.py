"""Fixtures of the runner tests: real processes started detached, and their cleanup."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


@pytest.fixture
def processes() -> Iterator[Processes]:
    tracked = Processes()
    yield tracked
    tracked.kill_all()
