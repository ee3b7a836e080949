"""The process watch type against real processes."""

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from clevagent_runner.config import TargetConfig, parse_watch
from clevagent_runner.liveness import ActionError
from clevagent_runner.process import ProcessDriver, is_protected, read_pid_file
from tests.runner.helpers import agent_command, alive, read_pid, wait_for


def pid_target(path: Path, **options) -> TargetConfig:
    return TargetConfig(type="process", target=str(path), agent="bot", **options)


def substring_target(needle: str, **options) -> TargetConfig:
    return TargetConfig(type="process", target=needle, agent="bot", **options)


@pytest.mark.parametrize("content, problem", [
    ("", "is empty"),
    ("   \n", "is empty"),
    ("abc\n", "is malformed"),
    ("12x", "is malformed"),
    ("0\n", "holds pid 0"),
    ("-5\n", "holds pid -5"),
    ("1\n", "holds pid 1"),
])
def test_pid_file_invalid_contents(tmp_path, content, problem):
    path = tmp_path / "bot.pid"
    path.write_text(content)

    pid, why = read_pid_file(path)

    assert pid is None
    assert problem in why


def test_pid_file_missing_means_dead(tmp_path):
    liveness = ProcessDriver(pid_target(tmp_path / "nope.pid")).check()

    assert liveness.state == "dead"
    assert "does not exist" in liveness.detail


def test_pid_file_of_running_process_alive(tmp_path, processes):
    path = tmp_path / "bot.pid"
    pid = processes.detached(agent_command(path))
    wait_for(lambda: read_pid(path) == pid)

    liveness = ProcessDriver(pid_target(path)).check()

    assert liveness.state == "alive"
    assert liveness.pid == pid
    assert liveness.memory_mb and liveness.memory_mb > 1


def test_pid_file_of_exited_process_dead(tmp_path, processes):
    path = tmp_path / "bot.pid"
    pid = processes.detached(agent_command(path, "--exit-after", "0"))
    wait_for(lambda: read_pid(path) == pid and not alive(pid))

    liveness = ProcessDriver(pid_target(path)).check()

    assert liveness.state == "dead"
    assert f"pid {pid}" in liveness.detail


def test_pid_reused_by_newer_process_dead(tmp_path, processes):
    # The PID file was written long before the process now holding its pid started.
    path = tmp_path / "bot.pid"
    other = processes.detached("sleep 60")
    path.write_text(f"{other}\n")
    old = time.time() - 3600
    os.utime(path, (old, old))

    liveness = ProcessDriver(pid_target(path)).check()

    assert liveness.state == "dead"
    assert "reused" in liveness.detail


def test_pid_reused_by_other_program_caught_by_match(tmp_path, processes):
    path = tmp_path / "bot.pid"
    other = processes.detached("sleep 61")
    path.write_text(f"{other}\n")

    liveness = ProcessDriver(pid_target(path, match="fake_agent.py")).check()

    assert liveness.state == "dead"
    assert "lacks 'fake_agent.py'" in liveness.detail


def test_pid_identity_change_detected(tmp_path, processes):
    path = tmp_path / "bot.pid"
    pid = processes.detached(agent_command(path))
    wait_for(lambda: read_pid(path) == pid)
    driver = ProcessDriver(pid_target(path))
    assert driver.check().alive
    # Pretend the pid belonged to a process with another start time before.
    driver.identity[pid] -= 100

    liveness = driver.check()

    assert liveness.state == "dead"
    assert "was reused" in liveness.detail


def test_substring_finds_process(processes):
    token = f"token-{uuid.uuid4().hex}"
    pid = processes.detached(agent_command("-", token))

    liveness = wait_for(lambda: (lv := ProcessDriver(substring_target(token)).check()).alive and lv)

    assert liveness.pid == pid


def test_substring_never_matches_runner_or_its_shell():
    token = f"token-{uuid.uuid4().hex}"
    # The shell that starts the runner and the runner itself both carry the token.
    command = f"{sys.executable} -m clevagent_runner check --watch process:{token}"
    done = subprocess.run(["/bin/sh", "-c", f"{command}; true"], capture_output=True,
                          text=True, timeout=60)

    assert f"process:{token}" in done.stdout
    assert "\tdead\t" in done.stdout


def test_substring_ignores_runners_own_children(processes):
    token = f"token-{uuid.uuid4().hex}"
    child = subprocess.Popen(["sleep", "30", token])
    try:
        liveness = ProcessDriver(substring_target(token)).check()
    finally:
        child.kill()
        child.wait()

    assert liveness.state == "dead"


def test_substring_several_matches_warn_and_use_oldest(processes, caplog):
    token = f"token-{uuid.uuid4().hex}"
    pids = [processes.detached(agent_command("-", token)) for _ in range(2)]
    driver = ProcessDriver(substring_target(token))

    with caplog.at_level(logging.WARNING, logger="clevagent_runner.process"):
        liveness = wait_for(lambda: (lv := driver.check()).alive and len(driver.matched) == 2
                            and lv)
        driver.check()

    assert liveness.pid == min(pids)
    warnings = [r for r in caplog.records if "processes match" in r.getMessage()]
    assert len(warnings) == 1
    assert f"pid {min(pids)}" in warnings[0].getMessage()


def test_terminate_hung_process_uses_sigkill(tmp_path, processes):
    path = tmp_path / "bot.pid"
    pid = processes.detached(agent_command(path, "--ignore-term"))
    wait_for(lambda: read_pid(path) == pid)
    time.sleep(0.3)  # let the agent install its SIGTERM handler; nothing to poll for
    driver = ProcessDriver(pid_target(path, stop_timeout=0.5))

    note = driver.stop()

    assert "SIGKILL" in note
    assert not alive(pid)


def test_restart_relaunches(tmp_path, processes):
    path = tmp_path / "bot.pid"
    old = processes.detached(agent_command(path))
    wait_for(lambda: read_pid(path) == old)
    driver = ProcessDriver(pid_target(path, relaunch=agent_command(path)))

    note = driver.restart()
    new = wait_for(lambda: (pid := read_pid(path)) != old and pid)
    processes.track(new)

    assert "stopped pid" in note
    assert "relaunched" in note
    assert not alive(old)
    assert driver.check().pid == new


def test_relaunch_in_cwd(tmp_path, processes):
    driver = ProcessDriver(pid_target(tmp_path / "bot.pid", cwd=str(tmp_path),
                                      relaunch=agent_command("bot.pid")))

    driver.restart()
    pid = wait_for(lambda: read_pid(tmp_path / "bot.pid"))
    processes.track(pid)

    assert driver.check().alive


def test_restart_without_relaunch_of_dead_process_fails(tmp_path):
    driver = ProcessDriver(pid_target(tmp_path / "bot.pid"))

    with pytest.raises(ActionError, match="no relaunch command"):
        driver.restart()


def test_relaunched_child_reaped_with_exit_code(tmp_path):
    driver = ProcessDriver(pid_target(tmp_path / "bot.pid",
                                      relaunch=agent_command("-", "--exit-code", "3",
                                                             "--exit-after", "0")))
    driver.restart()

    liveness = wait_for(lambda: (lv := driver.check()).state == "dead" and lv)

    assert liveness.exit_code == 3
    assert driver.children == {}


def test_protected_pids():
    assert is_protected(1)
    assert is_protected(0)
    assert is_protected(-3)
    assert is_protected(os.getpid())
    assert is_protected(os.getppid())


def test_watch_flag_parses_agent_name():
    target = parse_watch("process:/run/x.pid=my-agent")

    assert (target.target, target.agent, target.uses_pid_file) == ("/run/x.pid", "my-agent", True)
