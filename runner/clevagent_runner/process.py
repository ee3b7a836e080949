"""The process watch type: a PID file (recommended) or a command-line substring."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import time
from pathlib import Path

from clevagent_runner import procfs
from clevagent_runner.config import TargetConfig
from clevagent_runner.liveness import ALIVE, DEAD, STARTING, ActionError, Liveness
from clevagent_runner.procfs import ProcInfo

logger = logging.getLogger(__name__)

# A PID file written up to this long before its process started still counts: /proc's
# boot time has whole-second resolution and file systems round modification times.
START_TIME_SLACK = 2.0
KILL_WAIT = 5.0
POLL_STEP = 0.05


def read_pid_file(path: Path) -> tuple[int | None, str]:
    """Return (pid, "") for a valid PID file, or (None, why it is not usable)."""
    try:
        text = path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return None, f"PID file {path} does not exist"
    except OSError as exc:
        return None, f"PID file {path} is unreadable: {exc.strerror}"
    if not text:
        return None, f"PID file {path} is empty"
    first = text.split()[0]
    if not first.lstrip("-").isdigit():
        return None, f"PID file {path} is malformed: {text[:40]!r}"
    pid = int(first)
    if pid <= 1:
        return None, f"PID file {path} holds pid {pid}, which is never a watched process"
    return pid, ""


def is_protected(pid: int) -> bool:
    """Return True for pids the runner never signals: init, itself and its ancestors."""
    if pid <= 1 or pid == os.getpid():
        return True
    current = os.getpid()
    for _ in range(64):
        info = procfs.process_info(current)
        if info is None or info.ppid <= 1:
            return False
        if info.ppid == pid:
            return True
        current = info.ppid
    return False


class ProcessDriver:
    """Checks, terminates and relaunches one process target."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.children: dict[int, str] = {}
        self.last_exit_code: int | None = None
        self.identity: dict[int, float] = {}
        self.matched: tuple[int, ...] = ()

    # -- checking -------------------------------------------------------------------------

    def check(self) -> Liveness:
        self.reap_children()
        if self.config.uses_pid_file:
            return self.check_pid_file()
        return self.check_substring()

    def check_pid_file(self) -> Liveness:
        path = Path(self.config.target)
        pid, problem = read_pid_file(path)
        if pid is None:
            return self.not_running(problem)
        info = procfs.process_info(pid)
        if info is None or info.zombie:
            return self.not_running(f"pid {pid} from {path} is not running")
        reused = self.reuse_problem(info, path)
        if reused:
            return self.not_running(reused)
        return self.running(info)

    def reuse_problem(self, info: ProcInfo, path: Path) -> str:
        """Return why the process behind a PID file is not the agent, or ""."""
        known = self.identity.get(info.pid)
        if known is not None and info.start_time is not None and known != info.start_time:
            return f"pid {info.pid} was reused by another process ({info.cmdline[:60]!r})"
        match = self.config.match
        if match and match not in info.cmdline:
            return f"pid {info.pid} runs {info.cmdline[:60]!r}, which lacks {match!r}"
        try:
            written = path.stat().st_mtime
        except OSError:
            return ""
        if info.start_time is not None and info.start_time > written + START_TIME_SLACK:
            return (f"pid {info.pid} belongs to a process started after {path} was written "
                    f"({info.cmdline[:60]!r}), so the pid was reused")
        return ""

    def check_substring(self) -> Liveness:
        needle = self.config.target
        candidates = sorted(self.matching_processes(needle), key=lambda info: info.pid)
        pids = tuple(info.pid for info in candidates)
        if len(pids) > 1 and pids != self.matched:
            logger.warning(
                "target=%s pids=%s: %d processes match %r; watching the oldest, pid %d",
                self.config.spec, ",".join(map(str, pids)), len(pids), needle, pids[0],
            )
        self.matched = pids
        if not candidates:
            return self.not_running(f"no process matches {needle!r}")
        return self.running(candidates[0])

    def matching_processes(self, needle: str) -> list[ProcInfo]:
        """Return live processes whose command line holds needle, except the runner's own.

        The runner, its ancestors (the shell or sudo that started it, whose command line
        holds the substring too) and its descendants are excluded, but not the processes it
        relaunched for this target.
        """
        table = {info.pid: info for info in procfs.all_processes()}
        own = os.getpid()
        excluded = {own} | procfs.ancestors(own, table) | procfs.descendants(own, table)
        for child in self.children:
            excluded -= procfs.descendants(child, table)
            # The /bin/sh that ran the relaunch command matches too while it waits for the
            # agent, unless it exec'd the agent in its place.
            shell = table.get(child)
            if shell is not None and not shell.cmdline.startswith("/bin/sh -c "):
                excluded.discard(child)
        return [
            info for info in table.values()
            if needle in info.cmdline and info.pid not in excluded and not info.zombie
        ]

    def running(self, info: ProcInfo) -> Liveness:
        if info.start_time is not None:
            self.identity[info.pid] = info.start_time
        return Liveness(ALIVE, f"running (pid {info.pid})", pid=info.pid,
                        memory_mb=procfs.resident_mb(info.pid))

    def not_running(self, detail: str) -> Liveness:
        live_children = [pid for pid in self.children if procfs.process_info(pid)]
        if live_children:
            return Liveness(STARTING, f"relaunched as pid {live_children[0]}; {detail}")
        return Liveness(DEAD, detail, exit_code=self.last_exit_code)

    def reap_children(self) -> None:
        """Collect the exit status of relaunched processes so none stays a zombie."""
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                del self.children[pid]
                self.last_exit_code = os.waitstatus_to_exitcode(status)
                logger.info("target=%s pid=%d: relaunched process exited with code %d",
                            self.config.spec, pid, self.last_exit_code)

    # -- acting ---------------------------------------------------------------------------

    def restart(self) -> str:
        notes = []
        current = self.check()
        if current.alive and current.pid is not None:
            notes.append(self.terminate(current.pid))
        if self.config.relaunch:
            notes.append(self.relaunch(self.config.relaunch))
        elif current.alive:
            notes.append("no relaunch command, so its own supervisor must start it again")
        else:
            raise ActionError(
                f"{current.detail}, and no relaunch command is configured for {self.config.spec}"
            )
        return "; ".join(notes)

    def stop(self) -> str:
        current = self.check()
        if not current.alive or current.pid is None:
            return f"already stopped: {current.detail}"
        return self.terminate(current.pid)

    def terminate(self, pid: int) -> str:
        """Send SIGTERM, then SIGKILL after stop_timeout; raise ActionError if it survives."""
        if is_protected(pid):
            raise ActionError(f"refusing to signal pid {pid}: it is init, the runner or its parent")
        identity = procfs.process_info(pid)
        if identity is None:
            return f"pid {pid} had already exited"
        self.send(pid, signal.SIGTERM)
        if self.wait_gone(identity, self.config.stop_timeout):
            return f"stopped pid {pid} with SIGTERM"
        logger.warning("target=%s pid=%d: still running %.1fs after SIGTERM; sending SIGKILL",
                       self.config.spec, pid, self.config.stop_timeout)
        self.send(pid, signal.SIGKILL)
        if self.wait_gone(identity, KILL_WAIT):
            return f"killed pid {pid} with SIGKILL after {self.config.stop_timeout:g}s"
        raise ActionError(f"pid {pid} survived SIGKILL")

    def send(self, pid: int, signum: signal.Signals) -> None:
        logger.info("target=%s pid=%d: sending %s", self.config.spec, pid, signum.name)
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise ActionError(f"not permitted to send {signum.name} to pid {pid}") from None

    def wait_gone(self, identity: ProcInfo, timeout: float) -> bool:
        """Poll until the process is gone, a zombie or replaced by another with its pid."""
        deadline = time.monotonic() + timeout
        while True:
            self.reap_children()
            info = procfs.process_info(identity.pid)
            if info is None or info.zombie or info.start_time != identity.start_time:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_STEP)

    def relaunch(self, command: str) -> str:
        """Start the relaunch command through /bin/sh in a new session.

        The new session keeps the agent running when the runner stops, and posix_spawn
        (rather than subprocess.Popen) leaves reaping to reap_children, with no Popen object
        that would warn when the runner exits before its child.
        """
        script = command if not self.config.cwd else (
            f"cd {shlex.quote(self.config.cwd)} && {command}"
        )
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        try:
            pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", script], dict(os.environ),
                                 setsid=True, file_actions=actions)
        except OSError as exc:
            raise ActionError(f"relaunch command {command!r} failed to start: {exc}") from None
        self.children[pid] = command
        logger.info("target=%s pid=%d: relaunched with %r", self.config.spec, pid, command)
        return f"relaunched as pid {pid}"
