"""Runner settings: command-line flags, then environment variables, then a TOML file.

Nothing here reads the environment at import time; `load_config` takes the environment as
an argument so tests and the daemon pass what they mean.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WATCH_TYPES = ("docker", "systemd", "launchd", "process")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
MAX_AGENT_NAME = 128


class ConfigError(ValueError):
    """An invalid or missing setting; the message names the flag, variable or key."""


@dataclass(frozen=True)
class TargetConfig:
    """One watched target and the options that steer its monitoring and restarts."""

    type: str
    target: str
    agent: str
    auto_restart: bool = True
    heartbeat: bool = True
    relaunch: str | None = None
    cwd: str | None = None
    match: str | None = None
    pid_file: bool | None = None
    user: bool = False
    restart_unhealthy: bool = True
    on_cost_exceeded: str = "server"
    stop_timeout: float = 10.0
    start_timeout: float = 30.0
    backoff_initial: float = 5.0
    backoff_max: float = 300.0
    stable_seconds: float = 60.0
    crash_loop_exits: int = 5
    crash_loop_window: float = 300.0

    @property
    def spec(self) -> str:
        """Return the `TYPE:TARGET` form that --watch, --relaunch and reset use."""
        return f"{self.type}:{self.target}"

    @property
    def uses_pid_file(self) -> bool:
        """Return True if a process target is a PID file rather than a substring."""
        if self.pid_file is not None:
            return self.pid_file
        return self.target.endswith(".pid")


# Options a [[watch]] table or the [defaults] table may set, with the type each takes.
TARGET_OPTIONS: dict[str, type] = {
    "auto_restart": bool,
    "heartbeat": bool,
    "relaunch": str,
    "cwd": str,
    "match": str,
    "pid_file": bool,
    "user": bool,
    "restart_unhealthy": bool,
    "on_cost_exceeded": str,
    "stop_timeout": float,
    "start_timeout": float,
    "backoff_initial": float,
    "backoff_max": float,
    "stable_seconds": float,
    "crash_loop_exits": int,
    "crash_loop_window": float,
}
COST_POLICIES = ("server", "stop", "alert_only")


@dataclass(frozen=True)
class RunnerConfig:
    """Settings of one runner process."""

    api_key: str
    endpoint: str = DEFAULT_ENDPOINT
    heartbeat_interval: float = 30.0
    check_interval: float = 5.0
    log_level: str = "INFO"
    state_dir: Path = field(default_factory=lambda: default_state_dir({}))
    budget_timezone: str = "UTC"
    targets: tuple[TargetConfig, ...] = ()


@dataclass
class CliValues:
    """What the `start` command line set; None means "not given"."""

    watch: list[str] = field(default_factory=list)
    relaunch: list[str] = field(default_factory=list)
    api_key: str | None = None
    endpoint: str | None = None
    heartbeat_interval: float | None = None
    check_interval: float | None = None
    log_level: str | None = None
    config: str | None = None
    state_dir: str | None = None
    auto_restart: bool | None = None


def default_state_dir(env: Mapping[str, str]) -> Path:
    """Return where budget holds and reset requests live when nothing names a place."""
    if os.geteuid() == 0:
        return Path("/var/lib/clevagent-runner")
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "clevagent-runner"


def default_agent_name(watch_type: str, target: str) -> str:
    """Return the agent name a target reports under unless one is given."""
    name = target
    if watch_type == "docker":
        name = target.lstrip("/")
    elif watch_type == "systemd":
        name = target.removesuffix(".service")
    elif watch_type == "launchd":
        name = target.rsplit("/", 1)[-1]
    elif watch_type == "process" and target.endswith(".pid"):
        name = Path(target).name.removesuffix(".pid")
    return name[:MAX_AGENT_NAME]


def split_spec(text: str, what: str) -> tuple[str, str, str | None]:
    """Split `TYPE:TARGET[=VALUE]` at the first colon and the first '=' after it."""
    watch_type, sep, rest = text.partition(":")
    if not sep or watch_type not in WATCH_TYPES:
        raise ConfigError(
            f"invalid {what} {text!r}: expected TYPE:TARGET with TYPE one of "
            + ", ".join(WATCH_TYPES)
        )
    target, eq, value = rest.partition("=")
    if not target:
        raise ConfigError(f"invalid {what} {text!r}: the target after {watch_type}: is empty")
    return watch_type, target, (value if eq else None)


def check_agent_name(name: str, where: str) -> str:
    if not 1 <= len(name) <= MAX_AGENT_NAME:
        raise ConfigError(f"invalid agent name {name!r} in {where}: it must be 1 to 128 characters")
    return name


def parse_watch(text: str, defaults: Mapping[str, Any] | None = None) -> TargetConfig:
    """Parse a `--watch TYPE:TARGET[=AGENT]` value into a target with the given defaults."""
    watch_type, target, agent = split_spec(text, "--watch value")
    name = check_agent_name(agent, f"--watch {text}") if agent else default_agent_name(
        watch_type, target
    )
    return TargetConfig(type=watch_type, target=target, agent=name, **dict(defaults or {}))


def coerce_option(key: str, value: Any, where: str) -> Any:
    """Check a target option from the config file and return it as its declared type."""
    expected = TARGET_OPTIONS.get(key)
    if expected is None:
        allowed = ", ".join(sorted(TARGET_OPTIONS))
        raise ConfigError(f"unknown option {key!r} in {where}; allowed: {allowed}")
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"invalid {key} = {value!r} in {where}: expected {expected.__name__}")
    if key == "on_cost_exceeded" and value not in COST_POLICIES:
        raise ConfigError(
            f"invalid on_cost_exceeded = {value!r} in {where}: expected one of "
            + ", ".join(COST_POLICIES)
        )
    if isinstance(value, int | float) and value < 0:
        raise ConfigError(f"invalid {key} = {value!r} in {where}: it must not be negative")
    return value


def coerce_options(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {key: coerce_option(key, value, where) for key, value in table.items()}


def target_from_table(table: Mapping[str, Any], defaults: Mapping[str, Any], index: int) -> (
    TargetConfig
):
    """Build a target from one [[watch]] table of the config file."""
    where = f"[[watch]] entry {index + 1}"
    rest = dict(table)
    watch_type = rest.pop("type", None)
    target = rest.pop("target", None)
    agent = rest.pop("agent", None)
    if watch_type not in WATCH_TYPES:
        raise ConfigError(f"invalid type {watch_type!r} in {where}: expected one of {WATCH_TYPES}")
    if not isinstance(target, str) or not target:
        raise ConfigError(f"missing target in {where}")
    if agent is None:
        agent = default_agent_name(watch_type, target)
    elif not isinstance(agent, str):
        raise ConfigError(f"invalid agent {agent!r} in {where}: expected a string")
    options = {**defaults, **coerce_options(rest, where)}
    return TargetConfig(type=watch_type, target=target, agent=check_agent_name(agent, where),
                        **options)


def read_config_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in config file {path}: {exc}") from None


def file_targets(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[TargetConfig]:
    """Return the targets of a config file: `watch` holds strings or tables."""
    entries = data.get("watch", [])
    if not isinstance(entries, list):
        raise ConfigError("invalid watch in the config file: expected a list or [[watch]] tables")
    targets = []
    for index, entry in enumerate(entries):
        if isinstance(entry, str):
            targets.append(parse_watch(entry, defaults))
        elif isinstance(entry, dict):
            targets.append(target_from_table(entry, defaults, index))
        else:
            raise ConfigError(f"invalid [[watch]] entry {index + 1}: expected a string or a table")
    return targets


def merge_targets(*groups: list[TargetConfig]) -> list[TargetConfig]:
    """Merge target lists by spec; a later list renames an earlier target's agent."""
    merged: dict[str, TargetConfig] = {}
    for group in groups:
        for target in group:
            known = merged.get(target.spec)
            if known is None:
                merged[target.spec] = target
            else:
                merged[target.spec] = dataclasses.replace(known, agent=target.agent)
    return list(merged.values())


def apply_relaunch(targets: list[TargetConfig], relaunch: list[str]) -> list[TargetConfig]:
    """Attach each `--relaunch TYPE:TARGET=COMMAND` to the target it names."""
    by_spec = {target.spec: target for target in targets}
    for text in relaunch:
        watch_type, target, command = split_spec(text, "--relaunch value")
        spec = f"{watch_type}:{target}"
        if not command:
            raise ConfigError(f"invalid --relaunch {text!r}: expected {spec}=COMMAND")
        if spec not in by_spec:
            raise ConfigError(f"--relaunch names {spec}, which no --watch watches")
        by_spec[spec] = dataclasses.replace(by_spec[spec], relaunch=command)
    return [by_spec[target.spec] for target in targets]


def pick(flag: Any, env: Mapping[str, str], name: str, data: Mapping[str, Any], key: str) -> Any:
    """Return the first of flag, environment variable and file key that is set."""
    if flag is not None:
        return flag
    if env.get(name):
        return env[name]
    return data.get(key)


def to_interval(value: Any, what: str, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid {what} {value!r}: expected a number of seconds") from None
    if not 0.05 <= seconds <= 86400:
        raise ConfigError(f"invalid {what} {value!r}: expected 0.05 to 86400 seconds")
    return seconds


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"invalid budget timezone {name!r}: expected an IANA name") from None
    return name


def load_config(cli: CliValues, env: Mapping[str, str], need_api_key: bool = True) -> (
    RunnerConfig
):
    """Resolve every setting from flags, then environment, then the config file, then defaults.

    Targets are the union of the file's, CLEVAGENT_WATCH's (entries separated by ';') and
    the --watch flags, matched by TYPE:TARGET.
    """
    path = cli.config or env.get("CLEVAGENT_RUNNER_CONFIG")
    data = read_config_file(path) if path else {}
    defaults = coerce_options(data.get("defaults", {}), "[defaults]")
    if cli.auto_restart is not None:
        defaults["auto_restart"] = cli.auto_restart

    env_watch = [item.strip() for item in env.get("CLEVAGENT_WATCH", "").split(";")]
    targets = merge_targets(
        file_targets(data, defaults),
        [parse_watch(item, defaults) for item in env_watch if item],
        [parse_watch(item, defaults) for item in cli.watch],
    )
    targets = apply_relaunch(targets, cli.relaunch)
    if not targets:
        raise ConfigError(
            "no targets: pass --watch TYPE:TARGET, set CLEVAGENT_WATCH or add [[watch]] tables"
        )

    api_key = pick(cli.api_key, env, "CLEVAGENT_API_KEY", data, "api_key")
    if not api_key and need_api_key:
        raise ConfigError(
            "missing API key: pass --api-key, set CLEVAGENT_API_KEY or set api_key in the config"
        )
    log_level = str(pick(cli.log_level, env, "CLEVAGENT_LOG_LEVEL", data, "log_level") or "INFO")
    if log_level.upper() not in LOG_LEVELS:
        allowed = ", ".join(LOG_LEVELS)
        raise ConfigError(f"invalid log level {log_level!r}: expected one of {allowed}")
    state_dir = pick(cli.state_dir, env, "CLEVAGENT_RUNNER_STATE_DIR", data, "state_dir")
    endpoint = pick(cli.endpoint, env, "CLEVAGENT_ENDPOINT", data, "endpoint") or DEFAULT_ENDPOINT
    timezone = pick(None, env, "CLEVAGENT_BUDGET_TIMEZONE", data, "budget_timezone") or "UTC"

    return RunnerConfig(
        api_key=str(api_key or ""),
        endpoint=str(endpoint).rstrip("/"),
        heartbeat_interval=to_interval(
            pick(cli.heartbeat_interval, env, "CLEVAGENT_HEARTBEAT_INTERVAL", data,
                 "heartbeat_interval"), "heartbeat interval", 30.0),
        check_interval=to_interval(
            pick(cli.check_interval, env, "CLEVAGENT_CHECK_INTERVAL", data, "check_interval"),
            "check interval", 5.0),
        log_level=log_level.upper(),
        state_dir=Path(state_dir) if state_dir else default_state_dir(env),
        budget_timezone=check_timezone(str(timezone)),
        targets=tuple(targets),
    )
