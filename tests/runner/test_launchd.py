"""The launchd watch type against a stand-in launchctl on PATH."""

import pytest

from clevagent_runner.client import Outbox
from clevagent_runner.config import TargetConfig
from clevagent_runner.launchd import LaunchdDriver, parse_print, service_target
from clevagent_runner.state import StateStore
from clevagent_runner.worker import TargetWorker
from tests.runner.helpers import install_standin

TARGET = "gui/501/com.me.agent"
PLIST = "/Users/me/Library/LaunchAgents/com.me.agent.plist"


def service(state: str = "running", last_exit: str = "(never exited)") -> dict:
    return {"path": PLIST, "state": state, "pid": 700, "runs": 2, "last_exit": last_exit}


@pytest.fixture
def launchctl(tmp_path, monkeypatch):
    return install_standin("launchctl", tmp_path, monkeypatch,
                           {"services": {TARGET: service()}, "plists": {PLIST: TARGET}})


def set_service(launchctl, values: dict | None) -> None:
    state = launchctl.read()
    if values is None:
        state["services"].pop(TARGET, None)
    else:
        state["services"][TARGET] = values
    launchctl.write(state)


def driver() -> LaunchdDriver:
    config = TargetConfig(type="launchd", target="com.me.agent", agent="com.me.agent")
    return LaunchdDriver(config, uid=501)


def test_running_service_alive(launchctl):
    liveness = driver().check()

    assert liveness.state == "alive"
    assert (liveness.pid, liveness.restart_count) == (700, 2)
    assert launchctl.calls() == [["print", TARGET]]


def test_stopped_service_dead_with_exit_code(launchctl):
    set_service(launchctl, service("not running", "78: EX_CONFIG"))

    liveness = driver().check()

    assert liveness.state == "dead"
    assert liveness.exit_code == 78


def test_never_exited_has_no_exit_code(launchctl):
    set_service(launchctl, service("not running"))

    assert driver().check().exit_code is None


def test_unloaded_label_blocked(launchctl):
    set_service(launchctl, None)

    liveness = driver().check()

    assert liveness.state == "blocked"
    assert "is not loaded" in liveness.detail


def test_restart_kickstarts(launchctl):
    set_service(launchctl, service("not running", "1"))
    launchd = driver()

    launchd.restart()

    assert ["kickstart", "-k", TARGET] in launchctl.calls()
    assert launchd.check().pid == 701


def test_stop_boots_out_and_restart_bootstraps(launchctl):
    launchd = driver()

    launchd.stop()
    assert launchd.check().state == "blocked"
    launchd.restart()

    calls = launchctl.calls()
    assert ["bootout", TARGET] in calls
    assert ["bootstrap", "gui/501", PLIST] in calls
    assert launchd.check().state == "alive"


def test_unloaded_label_reported_once_not_hammered(launchctl, tmp_path):
    set_service(launchctl, None)
    config = TargetConfig(type="launchd", target="com.me.agent", agent="com.me.agent")
    outbox = Outbox()
    worker = TargetWorker(config, LaunchdDriver(config, uid=501), outbox,
                          StateStore(tmp_path / "s"), 1)

    for _ in range(4):
        worker.step()

    assert [e["type"] for e in outbox.events] == ["gave_up"]
    assert not any(call[0] == "kickstart" for call in launchctl.calls())


def test_service_targets():
    assert service_target("com.me.agent", 0) == "system/com.me.agent"
    assert service_target("com.me.agent", 501) == "gui/501/com.me.agent"
    assert service_target("user/501/com.me.agent", 0) == "user/501/com.me.agent"


def test_parse_print_skips_nested_blocks():
    text = "x = {\n\tstate = running\n\targuments = {\n\t\tstate = no\n\t}\n\tpid = 5\n}\n"

    assert parse_print(text) == {"state": "running", "pid": "5"}
