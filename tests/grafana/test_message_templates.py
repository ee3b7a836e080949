"""The notification templates, rendered by Go's text/template as Grafana renders them, stay
within each channel's limits and escape each format, even for 40 alerts at once."""

import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clevagent_server.grafana.message_templates import TEMPLATE
from tests.grafana.tools import missing_tool

RENDERER = Path(__file__).parent / "render" / "render.go"

# Worst-case values: every character that some format gives a meaning to, non-ASCII text
# and an emoji (two UTF-16 units), at the maximum lengths the API accepts.
HOSTILE = "<b>&amp;*_~`|>@everyone [x](y) \\ ' \" é🚀"
PROJECT = (HOSTILE * 10)[:200]
AGENT = (HOSTILE * 6)[:128]


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        missing_tool("go is not installed (apt-get install golang-go)")
    directory = tmp_path_factory.mktemp("render")
    binary = directory / "render"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(directory), "GOCACHE": str(directory / "cache"),
           "GO111MODULE": "off"}
    subprocess.run([go, "build", "-o", str(binary), str(RENDERER)], check=True, env=env,
                   timeout=300)
    return binary


def alert(index: int, status: str = "firing") -> dict[str, Any]:
    agent = f"{index:02d}{AGENT}"[:128]
    return {
        "status": status,
        "labels": {"alertname": "Agent dead", "project": PROJECT, "agent": agent,
                   "agent_id": str(index), "clevagent_rule": "agent_dead"},
        "annotations": {
            "summary": f"{PROJECT}/{agent} is dead: no heartbeat for 3m 10s.",
            "agent_dashboard": f"https://grafana.example.invalid/d/clevagent-agent?var-agent={index}",
        },
    }


def data(count: int, resolved: int = 0) -> dict[str, Any]:
    alerts = [alert(i) for i in range(count)]
    alerts += [alert(100 + i, "resolved") for i in range(resolved)]
    return {"receiver": "clevagent", "status": "firing" if count else "resolved", "alerts": alerts,
            "groupLabels": {"alertname": "Agent dead", "project": PROJECT},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "https://g.invalid"}


def render(renderer: Path, name: str, payload: dict[str, Any]) -> str:
    request = json.dumps({"template": TEMPLATE, "name": name, "data": payload})
    result = subprocess.run([str(renderer)], input=request, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cases() -> Iterator[tuple[int, int]]:
    yield from ((1, 0), (6, 0), (40, 0), (0, 3), (40, 40))


@pytest.mark.parametrize(("firing", "resolved"), list(cases()))
def test_telegram_fits_and_parses(renderer: Path, firing: int, resolved: int) -> None:
    text = render(renderer, "clevagent.telegram.message", data(firing, resolved))
    # Telegram's HTML mode: only our <b> tags, and every & starts an entity.
    tags = re.findall(r"<[^>]*>", text)
    assert set(tags) <= {"<b>", "</b>"}
    assert tags.count("<b>") == tags.count("</b>")
    assert not re.search(r"&(?!(amp|lt|gt|quot|#\d+);)", text)
    parsed = html.unescape(re.sub(r"</?b>", "", text))
    assert utf16_length(parsed) <= 4096
    assert "@everyone" in parsed  # escaped for HTML, shown as written
    if firing + resolved > 6:
        assert f"{firing + resolved} alerts in this group, the first 6 shown" in text


@pytest.mark.parametrize(("firing", "resolved"), list(cases()))
def test_discord_fits_and_mentions_nobody(renderer: Path, firing: int, resolved: int) -> None:
    text = render(renderer, "clevagent.discord.message", data(firing, resolved))
    assert utf16_length(text) <= 2000
    assert "@everyone" not in text
    # Outside our own ** markers, every markdown character is escaped.
    bare = text.replace("**", "")
    assert not re.search(r"(?<!\\)[*_~`|>]", bare.replace("\\\\", ""))


@pytest.mark.parametrize(("firing", "resolved"), list(cases()))
def test_slack_escapes_control_characters(renderer: Path, firing: int, resolved: int) -> None:
    text = render(renderer, "clevagent.slack.message", data(firing, resolved))
    assert "<" not in text
    assert ">" not in text
    assert not re.search(r"&(?!(amp|lt|gt);)", text)
    assert utf16_length(text) <= 40_000


def test_title_fits_embed_limit(renderer: Path) -> None:
    title = render(renderer, "clevagent.title", data(40, 2))
    assert title.startswith("[FIRING 40, RESOLVED 2] ClevAgent ")
    assert len(title) <= 256


def test_email_lists_every_alert(renderer: Path) -> None:
    text = render(renderer, "clevagent.email.message", data(40))
    assert text.count("[firing] Agent dead") == 40
    assert "alerts in this group" not in text


def test_cut_keeps_whole_characters(renderer: Path) -> None:
    emoji_agent = {**data(1), "alerts": [alert(0)]}
    emoji_agent["alerts"][0]["labels"]["agent"] = "🚀" * 100
    text = render(renderer, "clevagent.telegram.message", emoji_agent)
    assert "🚀" * 40 in text
    assert "🚀" * 41 not in text
    text.encode("utf-8")  # a split UTF-8 sequence would have failed to decode
