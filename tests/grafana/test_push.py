"""`clevagent grafana push` against a loopback stand-in of Grafana's HTTP API."""

from collections.abc import Iterator

import pytest
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaBadInputError
from typer.testing import CliRunner

from clevagent_server.grafana.cli import app
from clevagent_server.grafana.push import contains
from tests.grafana.fake_grafana import REDACTED, FakeGrafana

CHANNELS = {
    "CLEVAGENT_TELEGRAM_BOT_TOKEN": "123:abc",
    "CLEVAGENT_TELEGRAM_CHAT_ID": "-100200",
    "CLEVAGENT_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/T000/B000/XXX",
}
DATABASE = {
    "CLEVAGENT_GRAFANA_DB_HOST": "db.internal:5432",
    "CLEVAGENT_GRAFANA_DB_PASSWORD": "s3cret",
}
CHANNEL_VARIABLES = [
    "CLEVAGENT_TELEGRAM_BOT_TOKEN", "CLEVAGENT_TELEGRAM_CHAT_ID", "CLEVAGENT_TELEGRAM_THREAD_ID",
    "CLEVAGENT_SLACK_WEBHOOK_URL", "CLEVAGENT_DISCORD_WEBHOOK_URL", "CLEVAGENT_ALERT_EMAILS",
]


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGrafana]:
    for name in CHANNEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    fake = FakeGrafana()
    yield fake
    fake.stop()


def push(grafana: FakeGrafana, *extra: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(
        app,
        ["push", "--url", grafana.url, "--token", grafana.state.token, *extra],
        env={**DATABASE, **(env or {})},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_push_creates_everything(grafana: FakeGrafana) -> None:
    output = push(grafana, env=CHANNELS)
    state = grafana.state

    assert set(state.datasources) == {"clevagent-postgres"}
    datasource = state.datasources["clevagent-postgres"]
    assert datasource["url"] == "db.internal:5432"
    assert datasource["secureJsonData"] == {"password": "s3cret"}
    assert datasource["jsonData"]["timescaledb"] is True
    assert state.folders["clevagent"]["title"] == "ClevAgent"
    assert set(state.dashboards) == {"clevagent-agent", "clevagent-cost", "clevagent-events",
                                     "clevagent-fleet", "clevagent-runner"}
    assert len(state.rules) == 8
    assert state.groups[("clevagent", "clevagent")] == 60
    assert set(state.contact_points) == {"clevagent-telegram", "clevagent-slack"}
    assert state.contact_points["clevagent-telegram"]["settings"]["bottoken"] == "123:abc"
    assert state.policy["receiver"] == "clevagent"
    assert "weekly-maintenance" in state.mute_timings
    assert "clevagent" in state.templates

    assert "created   dashboard clevagent-fleet" in output
    assert "created   contact point clevagent-slack" in output


def test_second_push_changes_nothing(grafana: FakeGrafana) -> None:
    push(grafana, env=CHANNELS)
    writes = len(grafana.state.writes)

    output = push(grafana, env=CHANNELS)

    assert grafana.state.writes[writes:] == []
    assert "0 of 21 objects changed" in output


def test_push_updates_what_was_edited(grafana: FakeGrafana) -> None:
    push(grafana, env=CHANNELS)
    grafana.state.dashboards["clevagent-cost"]["dashboard"]["title"] = "edited"
    grafana.state.rules["clevagent-agent-dead"]["for"] = "10m"

    output = push(grafana, env=CHANNELS)

    assert "updated   dashboard clevagent-cost" in output
    assert "updated   alert rule clevagent-agent-dead" in output
    assert "unchanged dashboard clevagent-fleet" in output
    assert grafana.state.rules["clevagent-agent-dead"]["for"] == "1m"
    assert "2 of 21 objects changed" in output


def test_force_rewrites_secrets(grafana: FakeGrafana) -> None:
    push(grafana, env=CHANNELS)
    rotated = {**CHANNELS, "CLEVAGENT_TELEGRAM_BOT_TOKEN": "456:def"}

    push(grafana, env=rotated)
    assert grafana.state.contact_points["clevagent-telegram"]["settings"]["bottoken"] == "123:abc"

    push(grafana, "--force", env=rotated)
    assert grafana.state.contact_points["clevagent-telegram"]["settings"]["bottoken"] == "456:def"


def test_push_without_channels_routes_to_default(grafana: FakeGrafana) -> None:
    output = push(grafana)
    assert grafana.state.contact_points == {}
    assert grafana.state.policy["receiver"] == "grafana-default-email"
    assert "contact point" not in output


def test_push_can_keep_the_policy(grafana: FakeGrafana) -> None:
    before = dict(grafana.state.policy)
    push(grafana, "--no-policy", env=CHANNELS)
    assert grafana.state.policy == before


def test_push_reports_a_rejected_token(grafana: FakeGrafana) -> None:
    result = CliRunner().invoke(
        app, ["push", "--url", grafana.url, "--token", "wrong"], env=DATABASE
    )
    assert result.exit_code == 1
    assert f"push to {grafana.url} failed" in result.output


def test_fake_rejects_malformed_rule(grafana: FakeGrafana) -> None:
    """The stand-in enforces the API contract: the push passes because its payloads are
    valid, not because anything is accepted."""
    api = GrafanaApi.from_url(grafana.url, credential=grafana.state.token)
    api.folder.create_folder("ClevAgent", uid="clevagent")
    rule = {"uid": "x", "title": "x", "condition": "Z", "folderUID": "clevagent",
            "ruleGroup": "g", "noDataState": "OK", "execErrState": "KeepLast", "for": "1m",
            "orgID": 1, "data": [{"refId": "A", "datasourceUid": "__expr__",
                                  "relativeTimeRange": {"from": 0, "to": 0}, "model": {}}]}
    with pytest.raises(GrafanaBadInputError, match="condition Z does not exist"):
        api.alertingprovisioning.create_alertrule(rule)
    with pytest.raises(GrafanaBadInputError, match="missing settings"):
        api.alertingprovisioning.create_contactpoint(
            {"uid": "t", "name": "n", "type": "telegram", "settings": {"chatid": "1"}})
    with pytest.raises(GrafanaBadInputError, match="receiver 'nobody' does not exist"):
        api.alertingprovisioning.set_notification_policy_tree({"receiver": "nobody"})


def test_contains_ignores_defaults_and_redactions() -> None:
    assert contains({"a": 1, "b": 2}, {"a": 1})
    assert not contains({"a": 1}, {"a": 1, "b": 2})
    assert contains({"url": REDACTED}, {"url": "https://x"})
    assert not contains([1, 2], [1])
