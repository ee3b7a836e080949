"""The committed provisioning tree is what the code generates, follows Grafana's
documented file formats, and every reference in it resolves."""

import re
import shutil
import subprocess
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from clevagent_server.grafana.cli import app
from clevagent_server.grafana.export import render_tree
from tests.grafana.queries import PROVISIONING, alert_rules, load_dashboards, panel_queries
from tests.grafana.tools import missing_tool

REPOSITORY = PROVISIONING.parent
ALL_CHANNELS = {
    "CLEVAGENT_TELEGRAM_BOT_TOKEN": "1:a",
    "CLEVAGENT_TELEGRAM_CHAT_ID": "-1",
    "CLEVAGENT_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/x",
    "CLEVAGENT_DISCORD_WEBHOOK_URL": "https://discord.invalid/api/webhooks/1/x",
    "CLEVAGENT_ALERT_EMAILS": "ops@example.invalid;oncall@example.invalid",
}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
REQUIRED_SETTINGS = {
    "telegram": {"bottoken", "chatid"},
    "slack": {"url"},
    "discord": {"url"},
    "email": {"addresses"},
}


def load(relative: str) -> Any:
    return yaml.safe_load((PROVISIONING / relative).read_text())


def committed_files() -> dict[str, str]:
    return {
        str(path.relative_to(PROVISIONING)): path.read_text()
        for path in sorted(PROVISIONING.rglob("*"))
        if path.is_file()
    }


def test_committed_tree_is_generated() -> None:
    assert committed_files() == render_tree({})


def test_export_command_reproduces_tree(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path)], env=dict.fromkeys(ALL_CHANNELS))
    assert result.exit_code == 0, result.output
    written = {
        str(path.relative_to(tmp_path)): path.read_text()
        for path in sorted(tmp_path.rglob("*"))
        if path.is_file()
    }
    assert written == committed_files()
    assert (tmp_path / "timescaledb" / "grafana-role.sh").stat().st_mode & 0o111


def test_export_writes_only_configured_channels(tmp_path: Path) -> None:
    only_slack = {"CLEVAGENT_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/x"}
    files = render_tree(only_slack)
    document = yaml.safe_load(files["alerting/contact-points.yaml"])
    receivers = document["contactPoints"][0]["receivers"]
    assert [r["type"] for r in receivers] == ["slack"]
    # The file refers to the secret; Grafana substitutes it from its environment.
    assert receivers[0]["settings"]["url"] == "${CLEVAGENT_SLACK_WEBHOOK_URL}"
    assert yaml.safe_load(files["alerting/policies.yaml"])["policies"][0]["receiver"] == (
        "clevagent"
    )

    CliRunner().invoke(app, ["export", str(tmp_path)], env=only_slack)
    assert (tmp_path / "alerting" / "contact-points.yaml").exists()
    result = CliRunner().invoke(app, ["export", str(tmp_path)],
                                env=dict.fromkeys(ALL_CHANNELS))
    assert "alerting/contact-points.yaml" in result.output
    assert not (tmp_path / "alerting" / "contact-points.yaml").exists()


def test_blank_channel_variable_is_unset() -> None:
    files = render_tree({"CLEVAGENT_TELEGRAM_BOT_TOKEN": "1:a", "CLEVAGENT_TELEGRAM_CHAT_ID": " "})
    assert "alerting/contact-points.yaml" not in files


def test_datasource_file() -> None:
    document = load("datasources/clevagent.yaml")
    assert document["apiVersion"] == 1
    (source,) = document["datasources"]
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["uid"] == "clevagent-postgres"
    assert source["url"] == "${CLEVAGENT_GRAFANA_DB_HOST}"
    assert source["secureJsonData"] == {"password": "${CLEVAGENT_GRAFANA_DB_PASSWORD}"}
    assert "password" not in source
    assert "password" not in source["jsonData"]
    assert source["jsonData"]["timescaledb"] is True
    assert source["jsonData"]["postgresVersion"] == 1500


def test_postgres_flavour_turns_timescaledb_off() -> None:
    document = yaml.safe_load(render_tree({}, "postgres")["datasources/clevagent.yaml"])
    assert document["datasources"][0]["jsonData"]["timescaledb"] is False


def test_dashboard_provider_points_at_dashboards() -> None:
    (provider,) = load("dashboards/clevagent.yaml")["providers"]
    assert {"name", "type", "folder", "options"} <= set(provider)
    assert provider["type"] == "file"
    mounted = "/etc/grafana/provisioning/"
    assert provider["options"]["path"].startswith(mounted)
    local = PROVISIONING / provider["options"]["path"].removeprefix(mounted)
    assert sorted(p.name for p in local.glob("*.json")) == [
        "clevagent-agent.json", "clevagent-cost.json", "clevagent-events.json",
        "clevagent-fleet.json", "clevagent-runner.json",
    ]


def test_dashboard_references_resolve() -> None:
    dashboards = load_dashboards()
    uids = {d["uid"] for d in dashboards}
    assert len(uids) == len(dashboards)
    datasource_uid = load("datasources/clevagent.yaml")["datasources"][0]["uid"]

    for dashboard in dashboards:
        text = str(dashboard)
        for target in re.findall(r"/d/([a-z0-9-]+)", text):
            assert target in uids, f"{dashboard['uid']} links to unknown dashboard {target}"
        panel_ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(set(panel_ids)) == len(panel_ids)
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == datasource_uid
            assert panel["targets"], panel["title"]
        for variable in dashboard.get("templating", {}).get("list", []):
            assert variable["datasource"]["uid"] == datasource_uid


def test_rules_follow_file_format() -> None:
    document = load("alerting/rules.yaml")
    assert document["apiVersion"] == 1
    (group,) = document["groups"]
    assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
    assert DURATION.match(group["interval"])
    datasource_uid = load("datasources/clevagent.yaml")["datasources"][0]["uid"]
    for rule in group["rules"]:
        assert {"uid", "title", "condition", "data"} <= set(rule), rule.get("uid")
        ref_ids = [step["refId"] for step in rule["data"]]
        assert rule["condition"] in ref_ids
        for step in rule["data"]:
            assert {"from", "to"} == set(step["relativeTimeRange"])
            assert step["datasourceUid"] in (datasource_uid, "__expr__")
            expression = step["model"].get("expression")
            assert expression is None or expression in ref_ids
        assert DURATION.match(rule["for"])
        assert rule["noDataState"] in ("NoData", "Alerting", "OK", "KeepLast")
        assert rule["execErrState"] in ("Error", "Alerting", "OK", "KeepLast")


def test_rules_survive_environment_substitution() -> None:
    """Grafana substitutes ${VAR} in annotations and $VAR in labels: neither may occur."""
    for rule in alert_rules():
        for text in rule["annotations"].values():
            assert "${" not in text, rule["uid"]
        for text in rule["labels"].values():
            assert "$" not in text, rule["uid"]


def test_agent_rules_link_to_agent_dashboard() -> None:
    for rule in alert_rules():
        assert rule["annotations"]["summary"]
        if "agent_dashboard" in rule["annotations"]:
            assert "/d/clevagent-agent?var-agent={{ $labels.agent_id }}" in (
                rule["annotations"]["agent_dashboard"]
            )
    per_agent = [r for r in alert_rules() if "agent_dashboard" in r["annotations"]]
    assert len(per_agent) == 6


def contact_points(environ: dict[str, str]) -> list[dict[str, Any]]:
    files = render_tree(environ)
    return yaml.safe_load(files["alerting/contact-points.yaml"])["contactPoints"]


def test_contact_points_have_required_settings() -> None:
    (point,) = contact_points(ALL_CHANNELS)
    assert point["name"] == "clevagent"
    kinds = [receiver["type"] for receiver in point["receivers"]]
    assert kinds == ["telegram", "slack", "discord", "email"]
    for receiver in point["receivers"]:
        assert receiver["uid"] and receiver["settings"]
        missing = REQUIRED_SETTINGS[receiver["type"]] - set(receiver["settings"])
        assert not missing, receiver["type"]


def test_policy_references_resolve() -> None:
    files = render_tree(ALL_CHANNELS)
    (tree,) = yaml.safe_load(files["alerting/policies.yaml"])["policies"]
    receivers = {p["name"] for p in contact_points(ALL_CHANNELS)}
    mute_names = {m["name"] for m in load("alerting/mute-timings.yaml")["muteTimes"]}
    rule_keys = {rule["labels"]["clevagent_rule"] for rule in alert_rules()}

    assert tree["receiver"] in receivers
    assert "mute_time_intervals" not in tree
    assert tree["group_by"] == ["project", "agent"]
    assert DURATION.match(tree["repeat_interval"])
    for route in tree["routes"]:
        assert route["receiver"] in receivers
        assert set(route.get("mute_time_intervals", [])) <= mute_names
        for label, operator, value in route["object_matchers"]:
            assert operator in ("=", "!=", "=~", "!~")
            assert label == "clevagent_rule"
            assert value in rule_keys


def test_default_policy_uses_builtin_contact_point() -> None:
    (tree,) = load("alerting/policies.yaml")["policies"]
    assert tree["receiver"] == "grafana-default-email"


def test_message_templates_resolve() -> None:
    template = load("alerting/templates.yaml")["templates"][0]["template"]
    defined = re.findall(r'{{ define "([^"]+)"', template)
    assert len(defined) == len(set(defined))
    used = set(re.findall(r'{{ template "([^"]+)"', template))
    for point in contact_points(ALL_CHANNELS):
        for receiver in point["receivers"]:
            used |= set(re.findall(r'{{ template "([^"]+)"', str(receiver["settings"])))
    assert used <= set(defined)


def test_mute_timing_format() -> None:
    (mute,) = load("alerting/mute-timings.yaml")["muteTimes"]
    (interval,) = mute["time_intervals"]
    assert interval["weekdays"] == ["sunday"]
    assert interval["times"] == [{"start_time": "02:00", "end_time": "04:00"}]


def test_compose_file_validates(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        missing_tool("docker-compose is not installed (apt-get install docker-compose)")
    required = {"POSTGRES_PASSWORD": "p", "CLEVAGENT_GRAFANA_DB_PASSWORD": "g",
                "GRAFANA_ADMIN_PASSWORD": "a", "PATH": "/usr/bin:/bin"}
    command = ["docker-compose", "-f", str(REPOSITORY / "docker-compose.yml"), "config", "-q"]
    ok = subprocess.run(command, env=required, capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr

    missing = {"PATH": "/usr/bin:/bin"}
    failed = subprocess.run(command, env=missing, capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in failed.stderr


def test_compose_grafana_matches_sdk_line() -> None:
    compose = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())
    image = compose["services"]["grafana"]["image"]
    sdk_line = version("grafana-foundation-sdk").split("!")[1].rsplit(".", 1)[0]
    assert image.startswith(f"grafana/grafana:{sdk_line}.")
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
        assert "restart" in service, name
    assert compose["services"]["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_grafana_role_script_creates_reader(pg_database_url: str) -> None:
    """The compose init script, run by a real psql: its role reads agents, not api_keys."""
    if shutil.which("psql") is None:
        missing_tool("psql is not installed (apt-get install postgresql-client)")
    login = f"grafana_{uuid.uuid4().hex[:8]}"
    dbname = psycopg.conninfo.conninfo_to_dict(pg_database_url)["dbname"]
    environ = {"POSTGRES_USER": "postgres", "POSTGRES_DB": str(dbname), "PGHOST": "127.0.0.1",
               "CLEVAGENT_GRAFANA_DB_USER": login, "CLEVAGENT_GRAFANA_DB_PASSWORD": "pw'1",
               "PATH": "/usr/bin:/bin"}
    script = PROVISIONING / "timescaledb" / "grafana-role.sh"
    try:
        run = subprocess.run([str(script)], env=environ, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        with psycopg.connect(pg_database_url, autocommit=True) as conn:
            conn.execute(f'SET ROLE "{login}"')
            conn.execute("SELECT count(*) FROM agents")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM api_keys")
    finally:
        with psycopg.connect(pg_database_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{login}"')


def test_docs_show_every_query() -> None:
    docs = (REPOSITORY / "docs" / "grafana.md").read_text()
    for query in panel_queries():
        assert query.sql in docs, f"docs/grafana.md lacks the query of {query.title}"
    for rule in alert_rules():
        assert rule["data"][0]["model"]["rawSql"] in docs, rule["uid"]
