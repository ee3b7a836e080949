"""The systemd watch type against a stand-in systemctl on PATH."""

import pytest

from clevagent_runner.client import Outbox
from clevagent_runner.config import TargetConfig
from clevagent_runner.liveness import ActionError
from clevagent_runner.state import StateStore
from clevagent_runner.systemd import SystemdDriver
from clevagent_runner.worker import TargetWorker
from tests.runner.helpers import install_standin


def unit(active: str = "active", sub: str = "running", result: str = "success",
         **extra: str) -> dict:
    return {"LoadState": "loaded", "ActiveState": active, "SubState": sub, "Result": result,
            "ExecMainStatus": "0", "MainPID": "1234" if active == "active" else "0",
            "NRestarts": "3", **extra}


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    return install_standin("systemctl", tmp_path, monkeypatch, {"units": {}})


def set_unit(systemctl, name: str, values: dict) -> None:
    state = systemctl.read()
    state["units"][name] = values
    systemctl.write(state)


def driver(name: str = "my-agent", **options) -> SystemdDriver:
    return SystemdDriver(TargetConfig(type="systemd", target=name, agent="my-agent", **options))


def test_active_unit_alive(systemctl):
    set_unit(systemctl, "my-agent.service", unit())

    liveness = driver().check()

    assert liveness.state == "alive"
    assert (liveness.pid, liveness.restart_count) == (1234, 3)
    assert systemctl.calls()[0][:2] == ["show", "my-agent"]


def test_failed_unit_dead_with_exit_code(systemctl):
    set_unit(systemctl, "my-agent.service",
             unit("failed", "failed", "exit-code", ExecMainStatus="2"))

    liveness = driver().check()

    assert liveness.state == "dead"
    assert liveness.exit_code == 2
    assert "result exit-code" in liveness.detail


def test_auto_restarting_unit_starting(systemctl):
    set_unit(systemctl, "my-agent.service", unit("activating", "auto-restart", "exit-code"))

    assert driver().check().state == "starting"


def test_missing_unit_blocked(systemctl):
    liveness = driver("ghost.service").check()

    assert liveness.state == "blocked"
    assert liveness.detail == "unit ghost.service is not-found"


def test_start_limit_hit_blocked(systemctl):
    set_unit(systemctl, "my-agent.service", unit("failed", "failed", "start-limit-hit"))

    liveness = driver().check()

    assert liveness.state == "blocked"
    assert "systemctl reset-failed my-agent" in liveness.detail


def test_restart_runs_systemctl_restart(systemctl):
    set_unit(systemctl, "my-agent.service", unit("failed", "failed", "exit-code"))
    systemd = driver()

    assert systemd.restart() == "systemctl restart done"
    assert ["restart", "my-agent"] in systemctl.calls()
    assert systemd.check().state == "alive"


def test_restart_past_start_limit_fails(systemctl):
    set_unit(systemctl, "my-agent.service", unit("failed", "failed", "exit-code",
                                                 start_limited=True))

    with pytest.raises(ActionError, match="attempted too often"):
        driver().restart()


def test_restart_masked_unit_fails(systemctl):
    set_unit(systemctl, "my-agent.service", {**unit(), "LoadState": "masked"})

    with pytest.raises(ActionError, match="Unit my-agent.service is masked"):
        driver().restart()


def test_user_units(systemctl):
    set_unit(systemctl, "my-agent.service", unit())

    driver(user=True).check()

    assert systemctl.calls()[0][0] == "--user"


def test_start_limit_reported_once_not_hammered(systemctl, tmp_path):
    set_unit(systemctl, "my-agent.service", unit("failed", "failed", "start-limit-hit"))
    config = TargetConfig(type="systemd", target="my-agent", agent="my-agent")
    outbox = Outbox()
    worker = TargetWorker(config, SystemdDriver(config), outbox, StateStore(tmp_path / "s"), 1)

    for _ in range(4):
        worker.step()

    assert [e["type"] for e in outbox.events] == ["gave_up"]
    assert "start-limit-hit" in outbox.events[0]["details"]["reason"]
    assert not any(call[0] == "restart" for call in systemctl.calls())
    assert worker.report.status == "error"


def test_worker_restarts_failed_unit(systemctl, tmp_path):
    set_unit(systemctl, "my-agent.service", unit("failed", "failed", "exit-code",
                                                 ExecMainStatus="1"))
    config = TargetConfig(type="systemd", target="my-agent", agent="my-agent")
    outbox = Outbox()
    worker = TargetWorker(config, SystemdDriver(config), outbox, StateStore(tmp_path / "s"), 1)

    worker.step()
    worker.step()

    assert [e["type"] for e in outbox.events] == ["restart_attempt", "restart_succeeded"]
    assert outbox.events[0]["details"]["exit_code"] == 1


def test_systemctl_missing_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    liveness = driver().check()

    assert liveness.state == "unknown"
    assert liveness.detail == "systemctl not found on PATH"
