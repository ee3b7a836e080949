"""The `clevagent demo` command, for the admin CLI to mount."""

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from clevagent_server.demo.orchestrator import DEFAULT_MAX_SECONDS, DemoOptions, run_demo


def demo_command(
    duration: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Seconds to run before the summary. [default: until every fault was "
            f"detected, at most {DEFAULT_MAX_SECONDS:.0f} s]",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Directory for the demo's own PostgreSQL, logs and summary.json, kept "
            "afterwards. [default: a temporary directory, removed at the end]",
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Redraw a live table, or print plain lines.")
    ] = True,
) -> None:
    """Run the whole stack on five real agent processes and show what it detects."""
    # Only warnings: the view owns the terminal, and each process logs to its own file.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    options = DemoOptions(duration_seconds=duration, data_dir=data_dir, live=live)
    raise typer.Exit(run_demo(options))
