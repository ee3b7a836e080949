"""The admin CLI, run as a user runs it: a subprocess with --database-url."""

import json
import subprocess
import sys

import pytest


def clevagent(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "clevagent_server", *args]
    if url is not None:
        command += ["--database-url", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def ok_json(*args: str, url: str) -> object:
    result = clevagent(*args, "--json", url=url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_project_key_agent_lifecycle(pg_database_url):
    url = pg_database_url
    project = ok_json("project", "create", "trading", "--plan", "starter", url=url)
    key = ok_json("key", "create", "trading", "--name", "bot", url=url)
    registered = ok_json("agent", "register", "trading", "bot-1", url=url)
    strict = ok_json("project", "strict", "trading", "--on", url=url)
    moved = ok_json("project", "set-plan", "trading", "pro", url=url)
    keys = ok_json("key", "list", "trading", url=url)
    revoked = ok_json("key", "revoke", "trading", key["prefix"], url=url)
    agents = ok_json("agent", "list", "trading", url=url)
    shown = ok_json("agent", "show", "trading", "bot-1", url=url)
    listed = ok_json("project", "list", url=url)

    assert project["plan"] == "starter"
    assert project["rate_limit_per_minute"] == 500
    assert key["key"].startswith("cv_")
    assert len(key["key"]) >= 3 + 43  # 32 random bytes in URL-safe base64
    assert registered["registered"] is True
    assert strict["strict_mode"] is True
    assert moved["plan"] == "pro"
    assert moved["retention_days"] == 90
    assert [k["prefix"] for k in keys] == [key["prefix"]]
    assert "key" not in keys[0]
    assert revoked == {"id": key["id"], "prefix": key["prefix"], "revoked": True}
    assert [a["name"] for a in agents] == ["bot-1"]
    assert shown["max_tool_calls_per_minute"] == 10
    assert [p["name"] for p in listed] == ["trading"]


def test_keys_are_unique_and_random(pg_database_url):
    ok_json("project", "create", "p", url=pg_database_url)
    keys = {ok_json("key", "create", "p", url=pg_database_url)["key"] for _ in range(3)}

    assert len(keys) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("project", "show", "nope"), "project 'nope' not found"),
        (("project", "create", "x", "--plan", "gold"), "unknown plan 'gold'"),
        (("project", "create", "x", "--timezone", "Mars/Base"), "unknown timezone 'Mars/Base'"),
        (("key", "revoke", "p", "cv_nothing"), "no active key 'cv_nothing'"),
        (("agent", "register", "p", " spaced"), "invalid agent name"),
        (("agent", "show", "p", "ghost"), "agent 'ghost' not found"),
    ],
)
def test_user_mistakes_are_one_line(pg_database_url, args, message):
    ok_json("project", "create", "p", url=pg_database_url)

    result = clevagent(*args, url=pg_database_url)

    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_duplicate_project_is_one_line(pg_database_url):
    ok_json("project", "create", "twice", url=pg_database_url)

    result = clevagent("project", "create", "twice", url=pg_database_url)

    assert result.returncode == 1
    assert result.stderr == "error: project 'twice' already exists; pick another name\n"


def test_unreachable_database_is_one_line():
    result = clevagent("project", "list", url="postgresql://nobody@127.0.0.1:1/none")

    assert result.returncode == 1
    assert result.stderr.startswith("error: could not connect to the database")
    assert "Traceback" not in result.stderr


def test_unmigrated_database_says_what_to_run(postgres_tier):
    url = postgres_tier.new_database()

    result = clevagent("project", "list", url=url)

    assert result.returncode == 1
    assert "run `clevagent db migrate` first" in result.stderr


def test_db_status_reports_flavour(pg_database_url):
    status = ok_json("db", "status", url=pg_database_url)

    assert status["flavour"] == "postgres"
    assert status["pending"] == []


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("serve",),
        ("db",),
        ("project", "create"),
        ("key", "create"),
        ("agent", "register"),
        ("grafana",),
        ("detect",),
    ],
)
def test_every_command_has_help(command):
    result = clevagent(*command, "--help")

    assert result.returncode == 0
    assert "Usage:" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("project", "create", "x", "--daily-budget", "inf"), "invalid daily budget inf"),
        (("project", "create", "x", "--daily-budget", "1e20"), "invalid daily budget"),
        (("project", "create", "tab\there"), "invalid project name"),
        (("project", "create", " padded"), "invalid project name"),
    ],
)
def test_bad_project_values_are_one_line(pg_database_url, args, message):
    result = clevagent(*args, url=pg_database_url)

    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_database_url_is_one_line():
    result = clevagent("project", "list", url="not-a-url")

    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid database URL")
    assert result.stderr.count("\n") == 1


def test_file_as_data_dir_is_one_line(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")

    result = clevagent("project", "list", "--data-dir", str(not_a_dir))

    assert result.returncode == 1
    assert result.stderr.startswith("error: Not a directory")
    assert "Traceback" not in result.stderr
