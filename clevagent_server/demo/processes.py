"""The processes the demo starts, and stopping every one of them, in order, with deadlines.

Children run in process groups of their own, so a Ctrl-C in the terminal reaches only the
demo, which then stops them in the order that keeps the story straight: the runner first
(so it does not relaunch agents that are being stopped), then the agents (whose SDK sends
a final heartbeat), then the server.

Every child carries CLEVAGENT_DEMO_DIR in its environment, which is how a final sweep
also finds processes that the runner relaunched: they inherit it.
"""

import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEMO_DIR_VARIABLE = "CLEVAGENT_DEMO_DIR"
PROCESSES_FILE = "processes.json"


@dataclass
class Child:
    name: str
    pid: int
    popen: subprocess.Popen[bytes] | None = None


class ProcessGroup:
    """Children of the demo by name, recorded in processes.json as they start."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            popen = subprocess.Popen(
                argv,
                env={**env, DEMO_DIR_VARIABLE: str(self.run_dir)},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                process_group=0,
                cwd=self.run_dir,
            )
        child = Child(name, popen.pid, popen)
        self.children.append(child)
        self._record()
        logger.info("started %s, pid %d", name, popen.pid)
        return child

    def track(self, name: str, pid: int) -> None:
        """Record a process the demo did not start itself, such as a relaunched agent."""
        if any(child.pid == pid for child in self.children):
            return
        self.children.append(Child(name, pid))
        self._record()

    def named(self, prefix: str) -> list[Child]:
        return [child for child in self.children if child.name.startswith(prefix)]

    def stop(self, children: list[Child], grace_seconds: float) -> None:
        """Send SIGTERM to each child, and SIGKILL to those still running after the grace."""
        for child in children:
            _signal(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for child in children:
            if not _wait(child, deadline):
                logger.warning("%s (pid %d) ignored SIGTERM; killing it", child.name, child.pid)
                _signal(child, signal.SIGKILL)
                _wait(child, time.monotonic() + 5.0)

    def sweep(self) -> list[int]:
        """Kill any process still carrying this demo's directory; return their pids."""
        leftovers = processes_of_demo(self.run_dir)
        for pid in leftovers:
            logger.warning("process %d of the demo was still running; killing it", pid)
            self.stop([Child("leftover", pid)], grace_seconds=3.0)
        return leftovers

    def _record(self) -> None:
        data = {
            "demo": os.getpid(),
            "processes": [{"name": child.name, "pid": child.pid} for child in self.children],
        }
        partial = self.run_dir / (PROCESSES_FILE + ".partial")
        partial.write_text(json.dumps(data, indent=2))
        partial.replace(self.run_dir / PROCESSES_FILE)


def _signal(child: Child, signum: int) -> None:
    if child.popen is not None and child.popen.poll() is not None:
        return
    try:
        os.kill(child.pid, signum)
    except ProcessLookupError:
        pass


def _wait(child: Child, deadline: float) -> bool:
    """Wait until the child exited (reaping it if it is ours) or the deadline passed."""
    while True:
        if child.popen is not None:
            if child.popen.poll() is not None:
                return True
        elif not is_running(child.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def is_running(pid: int) -> bool:
    """Return True if pid is a process that has not exited (a zombie counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return _exists(pid)
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def processes_of_demo(run_dir: Path) -> list[int]:
    """Return the running processes whose environment names run_dir as the demo directory.

    Reads /proc, so this finds nothing where /proc is missing (macOS).
    """
    marker = f"{DEMO_DIR_VARIABLE}={run_dir}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        pid = int(entry.name)
        if marker in environ.split(b"\0") and pid != os.getpid() and is_running(pid):
            found.append(pid)
    return found
