"""The demo's terminal output: a live fleet table with the latest events, or plain lines.

The live view redraws the screen with ANSI escape sequences; --no-live (and any output
that is not a terminal) prints one line per event instead. Both end with the summary.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO

from clevagent_server.demo.observe import Observer, Outcome
from clevagent_server.demo.scenario import AGENTS
from clevagent_server.demo.vendor import VendorStats

EVENTS_SHOWN = 12
MESSAGE_CHARS = 70

HOME = "\x1b[H"
CLEAR_LINE = "\x1b[K"
CLEAR_BELOW = "\x1b[J"
CLEAR_SCREEN = "\x1b[2J"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
COLOURS = {"healthy": "\x1b[32m", "degraded": "\x1b[33m", "dead": "\x1b[31m"}
BOLD = "\x1b[1m"
RESET = "\x1b[0m"


class View(Protocol):
    def note(self, text: str) -> None: ...
    def update(self, observer: Observer, fresh: list[dict[str, Any]], elapsed: float) -> None: ...
    def close(self) -> None: ...


class LineView:
    """One line per step and per event, for logs, CI and --no-live."""

    def __init__(self, out: TextIO, started_at: datetime) -> None:
        self._out = out
        self._started_at = started_at

    def note(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def update(self, observer: Observer, fresh: list[dict[str, Any]], elapsed: float) -> None:
        for event in fresh:
            self.note(format_event(event, self._started_at))

    def close(self) -> None:
        pass


class LiveView:
    """Redraws the fleet table and the latest events in place, about twice a second."""

    def __init__(self, out: TextIO, started_at: datetime) -> None:
        self._out = out
        self._started_at = started_at
        self._drawn = False

    def note(self, text: str) -> None:
        if not self._drawn:
            print(text, file=self._out, flush=True)

    def update(self, observer: Observer, fresh: list[dict[str, Any]], elapsed: float) -> None:
        if not self._drawn:
            self._out.write(HIDE_CURSOR + CLEAR_SCREEN)
            self._drawn = True
        lines = [
            f"{BOLD}ClevAgent demo{RESET}   API {observer.api_url}   {elapsed:4.0f} s   "
            "Ctrl-C stops",
            "",
            *fleet_table(observer, colour=True),
            "",
            f"{BOLD}Events{RESET}",
            *(format_event(event, self._started_at) for event in observer.events[-EVENTS_SHOWN:]),
        ]
        self._out.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)
        self._out.flush()

    def close(self) -> None:
        if self._drawn:
            self._drawn = False
            self._out.write(SHOW_CURSOR + "\n")
            self._out.flush()


def fleet_table(observer: Observer, colour: bool = False) -> list[str]:
    rows = [("AGENT", "FAULT", "STATUS", "REASON", "TOKENS", "COST $")]
    for agent in AGENTS:
        row = observer.fleet.get(agent.name)
        status = row.status if row else "-"
        rows.append(
            (
                agent.name,
                agent.fault or "none",
                status,
                (row.reason or "") if row else "",
                f"{row.tokens_today:,}" if row else "-",
                f"{row.cost_usd_today:.4f}" if row else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        cells[4] = row[4].rjust(widths[4])
        cells[5] = row[5].rjust(widths[5])
        if colour and index > 0 and row[2] in COLOURS:
            cells[2] = COLOURS[row[2]] + cells[2] + RESET
        lines.append("  ".join(cells).rstrip())
    return lines


def format_event(event: dict[str, Any], started_at: datetime) -> str:
    offset = (event["time"] - started_at).total_seconds()
    message = (event.get("message") or "").replace("\n", " ")
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    return f"{offset:+6.1f} s  {event['agent'] or '(project)':<20}  {event['type']:<20}  {message}"


def render_summary(
    outcomes: Sequence[Outcome], stats: VendorStats, leftovers: list[int], interrupted: bool
) -> str:
    """Return the closing report: each fault, what caught it, how fast, and the end state."""
    rows = [("AGENT", "FAULT", "DETECTED AS", "AFTER", "BOUND", "FINAL STATUS", "")]
    for outcome in outcomes:
        rows.append(_summary_row(outcome))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]

    faults = [outcome for outcome in outcomes if outcome.agent.detection is not None]
    caught = sum(1 for outcome in faults if outcome.detected_at is not None)
    passed = all(outcome.passed for outcome in outcomes)
    verdict = "every agent ended as expected" if passed else "NOT every agent ended as expected"
    lines = [
        "",
        f"Summary: {caught} of {len(faults)} faults detected; {verdict}"
        + (" (stopped early by Ctrl-C)." if interrupted else "."),
        "AFTER is the time from the fault's start to the event that reported it.",
        "",
        *table,
        "",
        f"The OpenAI stand-in on 127.0.0.1 answered {stats.calls} calls "
        f"({stats.prompt_tokens + stats.completion_tokens:,} tokens); no real vendor was called.",
        _leftover_line(leftovers),
    ]
    return "\n".join(lines)


def _summary_row(outcome: Outcome) -> tuple[str, ...]:
    agent = outcome.agent
    latency = outcome.latency_seconds
    status = outcome.final_status or "-"
    if outcome.final_reason:
        status += f" ({outcome.final_reason})"
    if agent.detection is None:
        detected, after, bound = "nothing, as expected", "-", "-"
        if outcome.unexpected:
            detected = "unexpected " + ", ".join(outcome.unexpected)
    else:
        detected = agent.detection if outcome.detected_at else "not detected"
        after = f"{latency:.1f} s" if latency is not None else "-"
        bound = f"{agent.latency_bound_seconds:.0f} s"
    verdict = "ok" if outcome.passed else "FAILED"
    return (agent.name, agent.fault or "none", detected, after, bound, status, verdict)


def _leftover_line(leftovers: list[int]) -> str:
    if not leftovers:
        return "Every process the demo started has exited."
    pids = ", ".join(str(pid) for pid in leftovers)
    return f"These processes outlived the stop and were killed: {pids}."
