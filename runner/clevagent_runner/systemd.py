"""The systemd watch type, through `systemctl show` and `systemctl restart`."""

from __future__ import annotations

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

PROPERTIES = "LoadState,ActiveState,SubState,Result,ExecMainStatus,MainPID,NRestarts"
SHOW_TIMEOUT = 10.0


def parse_show(text: str) -> dict[str, str]:
    """Parse `systemctl show` output: one KEY=VALUE line per property."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def as_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def liveness_from_show(unit: str, props: dict[str, str]) -> Liveness:
    """Map the properties of `systemctl show` to a Liveness."""
    load, active = props.get("LoadState", ""), props.get("ActiveState", "")
    sub, result = props.get("SubState", ""), props.get("Result", "")
    pid = as_int(props.get("MainPID"))
    extra = {"exit_code": as_int(props.get("ExecMainStatus")),
             "restart_count": as_int(props.get("NRestarts")), "pid": pid or None}

    if load in ("not-found", "masked", "bad-setting", "error"):
        return Liveness(BLOCKED, f"unit {unit} is {load}", **extra)
    if result == "start-limit-hit" and active in ("failed", "inactive"):
        return Liveness(BLOCKED, (f"start-limit-hit: systemd stopped starting {unit}; "
                                  f"run systemctl reset-failed {unit}"), **extra)
    if active in ("active", "reloading"):
        return Liveness(ALIVE, f"{active} ({sub})", **extra)
    if active in ("activating", "deactivating"):
        return Liveness(STARTING, f"{active} ({sub})", **extra)
    if active in ("failed", "inactive"):
        return Liveness(DEAD, f"{active} ({sub}), result {result or 'unknown'}", **extra)
    return Liveness(UNKNOWN, f"unexpected ActiveState {active!r}", **extra)


class SystemdDriver:
    """Checks, restarts and stops one systemd unit."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.base = ["systemctl", "--user"] if config.user else ["systemctl"]

    def check(self) -> Liveness:
        args = [*self.base, "show", self.config.target, "--no-pager", f"--property={PROPERTIES}"]
        try:
            done = run_tool(args, SHOW_TIMEOUT)
        except CommandFailed as exc:
            return Liveness(UNKNOWN, str(exc))
        if done.returncode != 0:
            return Liveness(UNKNOWN, f"systemctl show failed: {done.first_error_line()}")
        return liveness_from_show(self.config.target, parse_show(done.stdout))

    def act(self, verb: str) -> str:
        timeout = self.config.stop_timeout + self.config.start_timeout
        try:
            done = run_tool([*self.base, verb, self.config.target], timeout)
        except CommandFailed as exc:
            raise ActionError(str(exc)) from None
        if done.returncode != 0:
            raise ActionError(f"systemctl {verb} failed: {done.first_error_line()}")
        return f"systemctl {verb} done"

    def restart(self) -> str:
        return self.act("restart")

    def stop(self) -> str:
        return self.act("stop")
