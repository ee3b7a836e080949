"""The process table, read from /proc on Linux and from `ps` elsewhere.

/proc gives each process's start time and exact argument vector without a subprocess,
which pgrep and ps cannot promise: pgrep matches its own pattern in some shells, and ps
truncates command lines on some systems.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    """One process: its id, parent, state letter, start time and command line."""

    pid: int
    ppid: int
    state: str
    start_time: float | None
    cmdline: str

    @property
    def zombie(self) -> bool:
        # Z: exited but not reaped by its parent; X: being torn down.
        return self.state in ("Z", "X")


@cache
def boot_time() -> float:
    for line in (PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime line in /proc/stat")


def parse_stat(pid: int, text: str, cmdline: str) -> ProcInfo:
    """Parse /proc/PID/stat; the command name may hold spaces and ')', so split at the last ')'."""
    fields = text[text.rindex(")") + 2:].split()
    ticks = int(fields[19])
    start = boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    return ProcInfo(pid=pid, ppid=int(fields[1]), state=fields[0], start_time=start,
                    cmdline=cmdline)


def read_proc(pid: int) -> ProcInfo | None:
    """Return the process from /proc, or None if it does not exist (any more)."""
    base = PROC / str(pid)
    try:
        stat = (base / "stat").read_text()
        raw = (base / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    return parse_stat(pid, stat, cmdline)


def read_ps(pid: int | None = None) -> list[ProcInfo]:
    """Return processes from `ps` where there is no /proc (macOS); start times are unknown."""
    args = ["ps", "-o", "pid=,ppid=,state=,command="]
    args += ["-p", str(pid)] if pid is not None else ["-ax"]
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("ps failed: %s", exc)
        return []
    infos = []
    for line in result.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0].isdigit():
            infos.append(ProcInfo(pid=int(parts[0]), ppid=int(parts[1]), state=parts[2][:1],
                                  start_time=None, cmdline=parts[3] if len(parts) > 3 else ""))
    return infos


def has_proc() -> bool:
    return (PROC / "self" / "stat").exists()


def process_info(pid: int) -> ProcInfo | None:
    """Return one process, or None if no process has that id."""
    if has_proc():
        return read_proc(pid)
    found = read_ps(pid)
    return found[0] if found else None


def all_processes() -> list[ProcInfo]:
    if not has_proc():
        return read_ps()
    infos = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            info = read_proc(int(entry.name))
            if info is not None:
                infos.append(info)
    return infos


def ancestors(pid: int, table: dict[int, ProcInfo]) -> set[int]:
    """Return the ids of the parent chain of pid, up to and including pid 1."""
    found: set[int] = set()
    current = table.get(pid)
    while current is not None and current.ppid > 0 and current.ppid not in found:
        found.add(current.ppid)
        current = table.get(current.ppid)
    return found


def descendants(pid: int, table: dict[int, ProcInfo]) -> set[int]:
    """Return the ids of every process below pid."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def resident_mb(pid: int) -> float | None:
    """Return the resident set size from /proc/PID/status in MiB, or None."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
