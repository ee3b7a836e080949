"""State kept on disk: budget holds that survive a runner restart, and reset requests.

`clevagent-runner reset` runs as a separate process, so it talks to the daemon through
files: it deletes the matching hold files and drops a request file that the daemon picks
up within a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """A target kept stopped: why, since when and until when (epoch seconds; None = reset)."""

    spec: str
    agent: str
    reason: str
    since: float
    until: float | None


def next_budget_day(now: float, timezone: str) -> float:
    """Return the epoch seconds of the next midnight in the budget timezone."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    return midnight.timestamp()


def file_key(spec: str) -> str:
    """Return a file name for a spec: readable, and unique through a hash suffix."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec)[:60]
    return f"{slug}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"


def write_json(path: Path, data: object) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


class StateStore:
    """Hold files under STATE_DIR/holds and reset requests under STATE_DIR/requests."""

    def __init__(self, root: Path) -> None:
        self.holds = root / "holds"
        self.requests = root / "requests"

    def save_hold(self, hold: Hold) -> None:
        write_json(self.holds / f"{file_key(hold.spec)}.json", asdict(hold))

    def load_hold(self, spec: str) -> Hold | None:
        path = self.holds / f"{file_key(spec)}.json"
        try:
            return Hold(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            logger.warning("target=%s: ignoring unreadable hold file %s: %s", spec, path, exc)
            return None

    def delete_hold(self, spec: str) -> None:
        (self.holds / f"{file_key(spec)}.json").unlink(missing_ok=True)

    def delete_holds_named(self, name: str) -> list[Hold]:
        """Delete every hold whose spec or agent is name; return what was deleted."""
        deleted = []
        for path in sorted(self.holds.glob("*.json")):
            try:
                hold = Hold(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if name in (hold.spec, hold.agent):
                path.unlink(missing_ok=True)
                deleted.append(hold)
        return deleted

    def request_reset(self, name: str) -> Path:
        path = self.requests / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
        write_json(path, {"target": name})
        return path

    def take_reset_requests(self) -> list[str]:
        """Return the names of pending reset requests and delete their files."""
        names = []
        for path in sorted(self.requests.glob("*.json")):
            try:
                names.append(str(json.loads(path.read_text())["target"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("ignoring unreadable reset request %s: %s", path, exc)
            path.unlink(missing_ok=True)
        return names
