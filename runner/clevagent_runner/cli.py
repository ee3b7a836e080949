"""The `clevagent-runner` command: start, reset and check."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from clevagent_runner import __version__
from clevagent_runner.config import (
    LOG_LEVELS,
    CliValues,
    ConfigError,
    default_state_dir,
    load_config,
    read_config_file,
)
from clevagent_runner.daemon import Runner, make_driver
from clevagent_runner.state import StateStore

logger = logging.getLogger(__name__)


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", action="append", default=[], metavar="TYPE:TARGET[=AGENT]",
                        help="target to watch: docker:NAME, systemd:UNIT, launchd:LABEL, "
                             "process:/path/to.pid or process:SUBSTRING; repeatable; '=AGENT' "
                             "sets the agent name (default: the target's own name)")
    parser.add_argument("--relaunch", action="append", default=[], metavar="TYPE:TARGET=COMMAND",
                        help="command (run by /bin/sh) that starts a process target again "
                             "after it was stopped; repeatable")
    parser.add_argument("--config", help="TOML config file (env CLEVAGENT_RUNNER_CONFIG)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clevagent-runner",
        description="Watch docker, systemd, launchd and process targets, send heartbeats for "
                    "them to ClevAgent and restart them when they die.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="run the daemon in the foreground")
    add_target_flags(start)
    start.add_argument("--api-key", help="project API key, cv_... (env CLEVAGENT_API_KEY)")
    start.add_argument("--endpoint", help="server URL (env CLEVAGENT_ENDPOINT; default "
                                          "http://127.0.0.1:8080)")
    start.add_argument("--heartbeat-interval", type=float, metavar="SECONDS",
                       help="seconds between heartbeat batches (default 30)")
    start.add_argument("--check-interval", type=float, metavar="SECONDS",
                       help="seconds between liveness checks of each target (default 5)")
    start.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                       help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    start.add_argument("--state-dir", help="directory for budget holds and reset requests")
    start.add_argument("--auto-restart", action=argparse.BooleanOptionalAction, default=None,
                       help="restart targets that die (default on; per target in the config)")

    reset = commands.add_parser(
        "reset", help="release a budget hold or crash-loop give-up of a running daemon")
    reset.add_argument("target", help="TYPE:TARGET as watched, or the agent name")
    reset.add_argument("--state-dir", help="the daemon's state directory")
    reset.add_argument("--config", help="the daemon's TOML config file, to find its state_dir")

    check = commands.add_parser("check", help="check each target once and print what was found")
    add_target_flags(check)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def start(args: argparse.Namespace) -> int:
    values = CliValues(
        watch=args.watch, relaunch=args.relaunch, api_key=args.api_key, endpoint=args.endpoint,
        heartbeat_interval=args.heartbeat_interval, check_interval=args.check_interval,
        log_level=args.log_level, config=args.config, state_dir=args.state_dir,
        auto_restart=args.auto_restart)
    config = load_config(values, os.environ)
    configure_logging(config.log_level)
    runner = Runner(config)
    runner.install_signal_handlers()
    runner.run()
    return 0


def reset(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or os.environ.get("CLEVAGENT_RUNNER_STATE_DIR")
    path = args.config or os.environ.get("CLEVAGENT_RUNNER_CONFIG")
    if not state_dir and path:
        state_dir = read_config_file(path).get("state_dir")
    store = StateStore(Path(state_dir) if state_dir else default_state_dir(os.environ))
    for hold in store.delete_holds_named(args.target):
        print(f"released the hold on {hold.spec} ({hold.reason})")
    store.request_reset(args.target)
    print(f"reset requested for {args.target}; a running daemon applies it within a second")
    return 0


def check(args: argparse.Namespace) -> int:
    values = CliValues(watch=args.watch, relaunch=args.relaunch, config=args.config)
    config = load_config(values, os.environ, need_api_key=False)
    configure_logging("WARNING")
    worst = 0
    for target in config.targets:
        liveness = make_driver(target).check()
        print(f"{target.spec}\tagent={target.agent}\t{liveness.state}\t{liveness.detail}")
        worst = worst if liveness.alive else 1
    return worst


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"start": start, "reset": reset, "check": check}
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"clevagent-runner: {exc}", file=sys.stderr)
        return 2
