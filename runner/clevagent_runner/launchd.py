"""The launchd watch type, through `launchctl print` and `launchctl kickstart -k`."""

from __future__ import annotations

import os

from clevagent_runner.commands import CommandFailed, run_tool
from clevagent_runner.config import TargetConfig
from clevagent_runner.liveness import (
    ALIVE,
    BLOCKED,
    DEAD,
    STARTING,
    UNKNOWN,
    ActionError,
    Liveness,
)

PRINT_TIMEOUT = 10.0
# launchctl exits with 113 when the domain has no service of that label.
NOT_FOUND_EXIT = 113


def service_target(label: str, uid: int) -> str:
    """Return the DOMAIN/LABEL service target; a label already in that form is kept."""
    if label.startswith(("gui/", "user/", "system/", "login/", "pid/")):
        return label
    return f"system/{label}" if uid == 0 else f"gui/{uid}/{label}"


def parse_print(text: str) -> dict[str, str]:
    """Return the top-level `key = value` pairs of `launchctl print`, skipping nested blocks."""
    values: dict[str, str] = {}
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.endswith("{"):
            depth += 1
            continue
        if stripped == "}":
            depth -= 1
            continue
        key, sep, value = stripped.partition(" = ")
        if sep and depth == 1:
            values[key] = value
    return values


def leading_int(value: str | None) -> int | None:
    """Read "78: EX_CONFIG" as 78 and "(never exited)" as None."""
    head = (value or "").split(":")[0].strip()
    return int(head) if head.lstrip("-").isdigit() else None


def liveness_from_print(props: dict[str, str]) -> Liveness:
    state = props.get("state", "")
    pid = leading_int(props.get("pid"))
    extra = {"exit_code": leading_int(props.get("last exit code")),
             "restart_count": leading_int(props.get("runs")), "pid": pid}
    if state == "running":
        return Liveness(ALIVE, f"running (pid {pid})", **extra)
    if state in ("spawn scheduled", "xpcproxy"):
        return Liveness(STARTING, state, **extra)
    if state in ("not running", "waiting", "exited"):
        return Liveness(DEAD, f"{state}, last exit code {props.get('last exit code')}", **extra)
    return Liveness(UNKNOWN, f"unexpected launchd state {state!r}", **extra)


class LaunchdDriver:
    """Checks, restarts and stops one launchd service."""

    def __init__(self, config: TargetConfig, uid: int | None = None) -> None:
        self.config = config
        self.target = service_target(config.target, os.getuid() if uid is None else uid)
        self.domain = self.target.rsplit("/", 1)[0]
        # The plist of a service the runner booted out, to bootstrap it again later.
        # NOTE: kept in memory only, so a runner restart while a service is held stopped
        # loses it and the label then has to be loaded by hand.
        self.plist: str | None = None

    def check(self) -> Liveness:
        try:
            done = run_tool(["launchctl", "print", self.target], PRINT_TIMEOUT)
        except CommandFailed as exc:
            return Liveness(UNKNOWN, str(exc))
        if done.returncode == NOT_FOUND_EXIT:
            detail = f"{self.target} is not loaded; load it with launchctl bootstrap"
            return Liveness(BLOCKED, detail)
        if done.returncode != 0:
            return Liveness(UNKNOWN, f"launchctl print failed: {done.first_error_line()}")
        props = parse_print(done.stdout)
        self.plist = props.get("path") or self.plist
        return liveness_from_print(props)

    def launchctl(self, *args: str) -> str:
        timeout = self.config.stop_timeout + self.config.start_timeout
        try:
            done = run_tool(["launchctl", *args], timeout)
        except CommandFailed as exc:
            raise ActionError(str(exc)) from None
        if done.returncode != 0:
            raise ActionError(f"launchctl {args[0]} failed: {done.first_error_line()}")
        return f"launchctl {args[0]} done"

    def restart(self) -> str:
        notes = []
        if self.check().state == BLOCKED and self.plist:
            notes.append(self.launchctl("bootstrap", self.domain, self.plist))
        notes.append(self.launchctl("kickstart", "-k", self.target))
        return "; ".join(notes)

    def stop(self) -> str:
        """Unload the service, because a KeepAlive job would respawn after a plain kill."""
        self.check()
        return self.launchctl("bootout", self.target)
