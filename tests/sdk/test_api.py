"""The public functions: argument checks, log_cost results, fingerprints, endpoint order."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import captured

import clevagent
from clevagent._config import DEFAULT_ENDPOINT, resolve_endpoint
from clevagent._fingerprint import canonical_json, prompt_fingerprint, tool_call_fingerprint


@pytest.mark.parametrize(("options", "message"), [
    ({"api_key": ""}, "api_key"),
    ({"agent": ""}, "agent"),
    ({"agent": "x" * 129}, "at most 128"),
    ({"agent": " padded"}, "leading or trailing"),
    ({"interval": 0}, "interval"),
    ({"interval": True}, "interval"),
    ({"endpoint": "ftp://host"}, "endpoint"),
    ({"on_loop": "explode"}, "on_loop"),
    ({"on_cost_exceeded": 3}, "on_cost_exceeded"),
    ({"auto_cost": "yes"}, "auto_cost"),
    ({"agent_type": ""}, "agent_type"),
])
def test_init_rejects_invalid_argument(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"api_key": "cv_test", "agent": "a", **options}

    with pytest.raises(ValueError, match=message):
        clevagent.init(**arguments)  # type: ignore[arg-type]

    assert clevagent._client is None


@pytest.mark.parametrize("arguments", [
    {"status": "fine"},
    {"tokens": -1},
    {"tokens": 1.5},
    {"cost_usd": float("nan")},
    {"cost_usd": -0.1},
    {"tool_calls": True},
    {"memory_mb": float("inf")},
    {"message": 42},
])
def test_ping_rejects_invalid_argument(arguments: dict[str, object],
                                       closed_endpoint: str) -> None:
    clevagent.init(api_key="cv_test", agent="a", endpoint=closed_endpoint)

    with pytest.raises(ValueError):
        clevagent.ping(**arguments)  # type: ignore[arg-type]


def test_calls_before_init_do_nothing() -> None:
    clevagent.ping(tokens=5)
    clevagent.log_prompt("x")
    clevagent.log_tool_call("search", {"q": 1})
    clevagent.log_iteration()
    with clevagent.busy("slow", 5):
        pass

    assert clevagent.log_cost(tokens=1, cost_usd=0.1) == {
        "tokens": 1, "cost_usd": 0.1, "ok": False,
        "error": "clevagent.init() has not been called"}
    assert clevagent.shutdown() is True


@pytest.mark.parametrize(("tokens", "cost"), [(-1, 0.1), (1, -0.5), ("many", 0.1),
                                              (1, float("inf")), (None, None)])
def test_log_cost_reports_invalid_values(tokens: object, cost: object,
                                         closed_endpoint: str) -> None:
    clevagent.init(api_key="cv_test", agent="a", endpoint=closed_endpoint)

    result = clevagent.log_cost(tokens=tokens, cost_usd=cost)  # type: ignore[arg-type]

    assert result["ok"] is False
    assert result["tokens"] == tokens
    assert result["cost_usd"] == cost
    assert result["error"]
    assert "cost_usd" not in captured()


def test_ping_and_logs_reach_counters(closed_endpoint: str) -> None:
    clevagent.init(api_key="cv_test", agent="a", endpoint=closed_endpoint)

    clevagent.ping(status="warning", message="m" * 3000, tokens=3, cost_usd=0.5,
                   tool_calls=2, iteration_count=7, memory_mb=12.5)
    clevagent.log_tool_call("search", '{"b": 1, "a": 2}')
    clevagent.log_iteration()

    fields = captured()
    state = clevagent._client.state  # type: ignore[union-attr]
    assert fields["tokens_used"] == 3
    assert fields["cost_usd"] == 0.5
    assert fields["tool_calls"] == 3
    assert len(fields["message"]) == 2000
    assert (state.status, state.iteration, state.memory_mb) == ("warning", 8, 12.5)


def test_busy_sets_and_clears_deadline(closed_endpoint: str) -> None:
    clevagent.init(api_key="cv_test", agent="a", endpoint=closed_endpoint)
    state = clevagent._client.state  # type: ignore[union-attr]

    with clevagent.busy("waiting for the model", timeout=120):
        inside = state.gauges(now=time.monotonic())
    after = state.gauges(now=time.monotonic())

    assert 119 < inside["busy_seconds"] <= 120
    assert inside["busy_reason"] == "waiting for the model"
    assert after["busy_seconds"] == 0
    assert "busy_reason" not in after


def test_prompt_fingerprint_normalises_whitespace() -> None:
    expected = hashlib.sha256(b"summarise the report").hexdigest()

    assert prompt_fingerprint("  summarise\n\tthe   report ") == expected


def test_tool_call_fingerprint_is_canonical() -> None:
    expected = hashlib.sha256('search\n{"a":2,"b":"é"}'.encode()).hexdigest()

    assert tool_call_fingerprint("search", {"b": "é", "a": 2}) == expected
    assert tool_call_fingerprint("search", '{"b": "é", "a": 2}') == expected
    assert canonical_json("SELECT 1") == '"SELECT 1"'


def test_endpoint_argument_then_environment_then_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLEVAGENT_ENDPOINT", raising=False)
    assert resolve_endpoint(None) == DEFAULT_ENDPOINT

    monkeypatch.setenv("CLEVAGENT_ENDPOINT", "http://ingest.internal:9000/")
    assert resolve_endpoint(None) == "http://ingest.internal:9000"
    assert resolve_endpoint("https://other:8443") == "https://other:8443"

    monkeypatch.setenv("CLEVAGENT_ENDPOINT", "not a url")
    with pytest.raises(ValueError, match="CLEVAGENT_ENDPOINT"):
        resolve_endpoint(None)


def run_python(source: str, tmp_path: Path, **env: str) -> str:
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent(source))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_is_quiet_and_lazy(tmp_path: Path) -> None:
    output = run_python("""
        import os, sys, threading
        os.environ["CLEVAGENT_ENDPOINT"] = "http://set-after-import:1"
        import clevagent
        print(sorted(m for m in ("openai", "anthropic", "langchain_core") if m in sys.modules))
        print([t.name for t in threading.enumerate() if t.name.startswith("clevagent")])
    """, tmp_path)

    assert output == "[]\n[]\n"


def test_import_hook_wraps_library_imported_after_init(tmp_path: Path,
                                                       closed_endpoint: str) -> None:
    output = run_python(f"""
        import sys, clevagent
        clevagent.init(api_key="cv_test", agent="a", endpoint="{closed_endpoint}",
                       shutdown_timeout=0)
        assert "openai" not in sys.modules
        import openai, openai._base_client as base
        print(getattr(base.SyncAPIClient.request, "__clevagent_wrapped__", False))
        print(type(openai.__spec__.loader).__name__, type(openai.__loader__).__name__)
        print(any(type(f).__name__ == "_PatchOnImport" for f in sys.meta_path))
    """, tmp_path)

    assert output == "True\nSourceFileLoader SourceFileLoader\nTrue\n"


def test_failing_capture_never_breaks_the_call(vendor: object, closed_endpoint: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from openai import OpenAI

    from clevagent.autocost import _patch, _usage

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("capture bug")

    clevagent.init(api_key="cv_test", agent="a", endpoint=closed_endpoint)
    monkeypatch.setattr(_patch, "field", broken)
    monkeypatch.setattr(_usage.StreamUsage, "observe", broken)

    with OpenAI(api_key="sk", base_url=vendor.openai_url, max_retries=0) as client:  # type: ignore[attr-defined]
        completion = client.chat.completions.create(model="m", messages=[])
        chunks = list(client.chat.completions.create(model="m", messages=[], stream=True))

    assert completion.choices[0].message.content == "Hello there"
    assert len(chunks) == 3
