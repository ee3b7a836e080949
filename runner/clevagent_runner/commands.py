"""Running the service managers' command-line tools with a deadline."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str

    def first_error_line(self) -> str:
        text = (self.stderr or self.stdout).strip()
        return text.splitlines()[0] if text else f"exit code {self.returncode}"


class CommandFailed(Exception):
    """The tool could not be run at all or did not finish before its deadline."""


def run_tool(args: list[str], timeout: float) -> CommandResult:
    """Run a tool with a deadline and return its exit code and output."""
    logger.debug("running %s", " ".join(args))
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CommandFailed(f"{args[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{' '.join(args)} timed out after {timeout:g}s") from None
    except OSError as exc:
        raise CommandFailed(f"{args[0]} failed to start: {exc}") from None
    return CommandResult(done.returncode, done.stdout, done.stderr)
