"""Settings from flags, environment and the TOML file, and their errors."""

from pathlib import Path

import pytest

from clevagent_runner.config import CliValues, ConfigError, load_config, parse_watch


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "runner.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("spec, agent", [
    ("docker:my-bot", "my-bot"),
    ("docker:/my-bot", "my-bot"),
    ("systemd:my-agent.service", "my-agent"),
    ("systemd:my-agent", "my-agent"),
    ("launchd:com.me.agent", "com.me.agent"),
    ("launchd:gui/501/com.me.agent", "com.me.agent"),
    ("process:/var/run/my-bot.pid", "my-bot"),
    ("process:python agent.py", "python agent.py"),
    ("process:/run/x.pid=custom", "custom"),
])
def test_default_agent_names(spec, agent):
    assert parse_watch(spec).agent == agent


@pytest.mark.parametrize("spec", ["k9s:x", "docker", "docker:", "process:=name", "x:y"])
def test_invalid_watch_rejected(spec):
    with pytest.raises(ConfigError, match="invalid --watch value"):
        parse_watch(spec)


def test_defaults():
    config = load_config(CliValues(watch=["docker:bot"], api_key="cv_x"), {})

    assert config.endpoint == "http://127.0.0.1:8080"
    assert config.heartbeat_interval == 30.0
    assert config.log_level == "INFO"
    assert config.targets[0].auto_restart is True


def test_flag_beats_env_beats_file(tmp_path):
    path = write(tmp_path, 'api_key = "cv_file"\nendpoint = "http://file"\n'
                           'heartbeat_interval = 7\nlog_level = "ERROR"\n')
    env = {"CLEVAGENT_API_KEY": "cv_env", "CLEVAGENT_ENDPOINT": "http://env/",
           "CLEVAGENT_LOG_LEVEL": "debug"}

    config = load_config(CliValues(watch=["docker:bot"], config=path, api_key="cv_flag"), env)

    assert config.api_key == "cv_flag"
    assert config.endpoint == "http://env"
    assert config.log_level == "DEBUG"
    assert config.heartbeat_interval == 7.0


def test_file_targets_with_options(tmp_path):
    path = write(tmp_path, """
api_key = "cv_x"

[defaults]
stop_timeout = 3

[[watch]]
type = "docker"
target = "web"

[[watch]]
type = "process"
target = "/run/x.pid"
agent = "classifier"
relaunch = "python agent.py"
auto_restart = false
""")

    config = load_config(CliValues(config=path), {})

    web, classifier = config.targets
    assert (web.spec, web.stop_timeout) == ("docker:web", 3.0)
    assert classifier.agent == "classifier"
    assert classifier.relaunch == "python agent.py"
    assert classifier.auto_restart is False
    assert classifier.stop_timeout == 3.0


def test_targets_merged_from_all_sources(tmp_path):
    path = write(tmp_path, 'watch = ["process:/run/x.pid"]\n')
    env = {"CLEVAGENT_API_KEY": "cv_x", "CLEVAGENT_WATCH": "docker:a; systemd:b"}

    config = load_config(CliValues(config=path, watch=["process:/run/x.pid=renamed"]), env)

    assert [(t.spec, t.agent) for t in config.targets] == [
        ("process:/run/x.pid", "renamed"), ("docker:a", "a"), ("systemd:b", "b")]


def test_relaunch_flag_attaches_command():
    config = load_config(CliValues(watch=["process:/run/x.pid=bot"], api_key="cv_x",
                                   relaunch=["process:/run/x.pid=python agent.py --x=1"]), {})

    assert config.targets[0].relaunch == "python agent.py --x=1"


def test_relaunch_for_unwatched_target_rejected():
    with pytest.raises(ConfigError, match="which no --watch watches"):
        load_config(CliValues(watch=["docker:a"], api_key="cv_x",
                              relaunch=["process:/run/x.pid=python agent.py"]), {})


def test_no_auto_restart_flag_applies_to_all():
    config = load_config(CliValues(watch=["docker:a", "docker:b"], api_key="cv_x",
                                   auto_restart=False), {})

    assert [t.auto_restart for t in config.targets] == [False, False]


@pytest.mark.parametrize("cli, env, message", [
    (CliValues(watch=["docker:a"]), {}, "missing API key"),
    (CliValues(api_key="cv_x"), {}, "no targets"),
    (CliValues(watch=["docker:a"], api_key="cv_x", log_level="LOUD"), {}, "invalid log level"),
    (CliValues(watch=["docker:a"], api_key="cv_x", heartbeat_interval=0), {},
     "invalid heartbeat interval"),
    (CliValues(watch=["docker:a"], api_key="cv_x"), {"CLEVAGENT_HEARTBEAT_INTERVAL": "soon"},
     "invalid heartbeat interval 'soon'"),
    (CliValues(watch=["docker:a"], api_key="cv_x"), {"CLEVAGENT_BUDGET_TIMEZONE": "Mars/Base"},
     "invalid budget timezone"),
])
def test_invalid_settings_rejected(cli, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(cli, env)


@pytest.mark.parametrize("body, message", [
    ("[[watch]]\ntype = 'process'\ntarget = 'x'\nstop_timeout = 'long'\n", "expected float"),
    ("[[watch]]\ntype = 'process'\ntarget = 'x'\nrestart_always = true\n", "unknown option"),
    ("[[watch]]\ntype = 'pod'\ntarget = 'x'\n", "invalid type 'pod'"),
    ("[[watch]]\ntype = 'docker'\n", "missing target"),
    ("[defaults]\non_cost_exceeded = 'pause'\n", "invalid on_cost_exceeded"),
    ("api_key = \n", "invalid TOML"),
])
def test_invalid_file_rejected(tmp_path, body, message):
    path = write(tmp_path, body)

    with pytest.raises(ConfigError, match=message):
        load_config(CliValues(config=path, api_key="cv_x", watch=["docker:a"]), {})


def test_missing_file_rejected(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(CliValues(config=str(tmp_path / "none.toml")), {})
