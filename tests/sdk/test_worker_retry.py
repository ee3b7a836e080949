"""The worker's retry, backoff and warning rules, against a scripted heartbeat endpoint."""

from __future__ import annotations

import email.utils
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import captured, wait_until
from scripted_ingest import Received, Reply, ScriptedIngest, ok_reply

import clevagent
from clevagent._transport import MAX_RETRY_AFTER, parse_retry_after

LOOP_WARNING = {"type": "loop", "signal": "tool_call_rate", "value": 30.0,
                "threshold": 10.0, "message": "30 tool calls in the last minute"}


def start(scripted: ScriptedIngest, **options: object) -> None:
    clevagent.init(api_key="cv_test", agent="retry-agent", endpoint=scripted.url,
                   interval=options.pop("interval", 1), **options)  # type: ignore[arg-type]


def test_retry_after_seconds_is_honoured(scripted: ScriptedIngest) -> None:
    scripted.script = [Reply(429, {"detail": "Rate limit exceeded. Retry after 2 seconds."},
                             {"Retry-After": "2"})]
    start(scripted)

    first, second = scripted.wait_for(2)[:2]

    assert second.body["seq"] == first.body["seq"]
    assert second.at - first.at >= 1.9


def test_retry_after_http_date_is_honoured(scripted: ScriptedIngest) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    scripted.script = [Reply(503, {"detail": "database unavailable"}, {"Retry-After": when})]
    start(scripted)

    first, second = scripted.wait_for(2)[:2]

    # An HTTP-date has whole seconds, so the wait is between 2 and 3 seconds.
    assert second.at - first.at >= 1.9
    assert second.body["seq"] == first.body["seq"]


@pytest.mark.parametrize(("header", "expected"), [
    ("120", 120.0),
    ("0", 0.0),
    ("99999999", MAX_RETRY_AFTER),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ("soon", None),
    ("-5", None),
    (None, None),
])
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, time.time()) == expected


def test_server_errors_back_off_exponentially(scripted: ScriptedIngest) -> None:
    scripted.script = [Reply(500, {"detail": "boom"}) for _ in range(4)]
    start(scripted, interval=60)

    received = scripted.wait_for(5, timeout=30)

    gaps = [b.at - a.at for a, b in zip(received, received[1:], strict=False)]
    # Delays double from 1 s with jitter between half and all of each step.
    assert 0.45 <= gaps[0] <= 1.2
    assert 0.95 <= gaps[1] <= 2.2
    assert 1.95 <= gaps[2] <= 4.2
    assert {r.body["seq"] for r in received[:5]} == {received[0].body["seq"]}


def test_backoff_is_capped_at_the_interval() -> None:
    from clevagent._worker import Worker

    worker = Worker.__new__(Worker)
    worker.interval = 5.0
    worker.failures = 40

    assert all(2.5 <= worker.backoff() <= 5.0 for _ in range(100))


def test_unauthorized_is_reported_once_and_stops(scripted: ScriptedIngest,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    scripted.script = [Reply(401, {"detail": "Invalid or missing X-API-Key header"})]
    start(scripted)
    scripted.wait_for(1)
    worker = clevagent._client.worker  # type: ignore[union-attr]
    wait_until(lambda: worker.finished.is_set(), what="the worker to stop")

    clevagent.ping()
    time.sleep(1.5)
    assert len(scripted.received) == 1
    assert clevagent.shutdown() is True
    assert len(scripted.received) == 1
    reports = [r for r in caplog.records if "rejected the API key" in r.getMessage()]
    assert len(reports) == 1
    assert reports[0].name == "clevagent"


def test_rejected_batch_is_dropped_and_counted(scripted: ScriptedIngest) -> None:
    scripted.script = [ok_reply(), Reply(422, {"detail": [{"loc": ["body"], "msg": "bad",
                                                           "type": "value_error"}]})]
    start(scripted)
    scripted.wait_for(1)
    clevagent.log_cost(tokens=5, cost_usd=0.1)

    received = scripted.wait_for(3)

    assert received[1].body["tokens_used"] == 5
    assert received[2].body["seq"] == received[1].body["seq"] + 1
    assert received[2].body["tokens_used"] == 0
    assert clevagent._client.state.drops["http_422"] == 1  # type: ignore[union-attr]


def test_server_minimum_raises_interval(scripted: ScriptedIngest) -> None:
    scripted.script = [ok_reply(min_interval_seconds=3)]
    start(scripted, interval=1)

    received = scripted.wait_for(2, timeout=10)

    assert received[1].at - received[0].at >= 2.6


def test_counters_survive_outage_in_order(scripted: ScriptedIngest) -> None:
    scripted.script = [ok_reply()] + [Reply(503, {}, {"Retry-After": "1"})] * 2
    start(scripted)
    scripted.wait_for(1)
    clevagent.log_cost(tokens=10, cost_usd=0.01)
    scripted.wait_for(2)
    clevagent.log_cost(tokens=20, cost_usd=0.02)  # during the outage: goes to the next seq

    def tokens_by_seq(received: list[Received]) -> dict[int, int]:
        return {item.body["seq"]: item.body["tokens_used"] for item in received}

    received = scripted.wait_until(lambda r: sum(tokens_by_seq(r).values()) >= 30)

    by_seq: dict[int, int] = {}
    for item in received:
        by_seq.setdefault(item.body["seq"], item.body["tokens_used"])
        assert by_seq[item.body["seq"]] == item.body["tokens_used"], "a retry changed its batch"
    assert sorted(by_seq.values()).count(10) == 1
    assert sorted(by_seq.values()).count(20) == 1


def test_fingerprints_are_capped_and_drops_counted(scripted: ScriptedIngest) -> None:
    scripted.script = [Reply(503, {}, {"Retry-After": "3600"})]
    start(scripted)
    scripted.wait_for(1)

    for index in range(1500):
        clevagent.log_prompt(f"prompt {index}")

    fields = captured()
    assert len(fields["fingerprints"]) == 1000
    assert clevagent._client.state.drops["fingerprint_overflow"] == 500  # type: ignore[union-attr]


def test_loop_warning_alerts_once_per_episode(scripted: ScriptedIngest,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    scripted.script = [ok_reply(warning=LOOP_WARNING), ok_reply(warning=LOOP_WARNING),
                       ok_reply(), ok_reply(warning=LOOP_WARNING)]
    start(scripted)

    scripted.wait_for(5)

    lines = [line for line in capfd.readouterr().err.splitlines() if line]
    assert len(lines) == 2
    assert lines[0].startswith("clevagent: loop detected for agent 'retry-agent'")
    assert "30 tool calls in the last minute" in lines[0]


def test_callable_action_receives_warning(scripted: ScriptedIngest) -> None:
    seen: list[dict[str, object]] = []
    budget = {"type": "cost_exceeded", "signal": "daily_budget", "value": 12.0,
              "threshold": 10.0}
    scripted.script = [ok_reply(warning=budget)]

    def on_cost(warning: dict[str, object]) -> None:
        seen.append(warning)
        raise RuntimeError("a broken handler must not stop the worker")

    start(scripted, on_cost_exceeded=on_cost)
    scripted.wait_for(3)

    assert seen == [budget]


def test_stop_action_exits_with_status_1(scripted: ScriptedIngest, tmp_path: Path) -> None:
    scripted.script = [ok_reply(warning=LOOP_WARNING)]
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(f"""
        import time, clevagent
        clevagent.init(api_key="cv_test", agent="stopped", endpoint="{scripted.url}",
                       on_loop="stop")
        time.sleep(30)
        print("not reached")
    """))

    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=30)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "stopping the process" in result.stderr
    assert scripted.received[-1].body["status"] == "shutdown"
