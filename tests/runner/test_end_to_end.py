"""The runner daemon as a subprocess against a real `clevagent serve` and PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.runner.helpers import agent_command, alive, read_pid, wait_for

HERE = Path(__file__).parent
HEARTBEAT_INTERVAL = 2.0


@dataclass
class Api:
    url: str
    api_key: str
    database_url: str

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def events(self, agent: str) -> list[dict]:
        response = httpx.get(f"{self.url}/api/v1/events", params={"agent": agent},
                             headers=self.headers(), timeout=10)
        response.raise_for_status()
        return list(reversed(response.json()))


@pytest.fixture
def api(server, tmp_path) -> Iterator[Api]:
    """The server, on the enterprise plan so that a 2 s heartbeat interval is allowed."""
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        conn.execute("UPDATE projects SET plan = 'enterprise' WHERE id = %s", (server.project_id,))
    yield Api(server.url, server.api_key, server.database_url)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Runner:
    def __init__(self, api: Api, tmp_path: Path, config: str) -> None:
        self.pidfile = tmp_path / "bot.pid"
        path = tmp_path / "runner.toml"
        path.write_text(config)
        self.log_path = tmp_path / "runner.log"
        log = self.log_path.open("wb")
        env = {**os.environ, "CLEVAGENT_API_KEY": api.api_key}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clevagent_runner", "start", "--config", str(path),
             "--endpoint", api.url, "--heartbeat-interval", str(HEARTBEAT_INTERVAL),
             "--check-interval", "0.2",
             "--state-dir", str(tmp_path / "state"), "--log-level", "DEBUG"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_runner(api, tmp_path) -> Iterator:
    started: list[Runner] = []

    def start(config: str) -> Runner:
        runner = Runner(api, tmp_path, config)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner.process.poll() is None:
            runner.stop()
        pid = read_pid(runner.pidfile)
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def watch_table(pidfile: Path, relaunch: str, **options: object) -> str:
    lines = ["[[watch]]", 'type = "process"', f'target = "{pidfile}"', 'agent = "e2e-bot"',
             f"relaunch = '{relaunch}'"]
    lines += [f"{key} = {value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def test_killed_process_restarted_and_reported(api, start_runner, processes, tmp_path):
    # The agent runs before the runner starts, as in Mode A.
    pidfile = tmp_path / "bot.pid"
    first = processes.detached(agent_command(pidfile))
    wait_for(lambda: read_pid(pidfile) == first)
    runner = start_runner(watch_table(pidfile, "exec " + agent_command(pidfile)))
    status = wait_for(lambda: [a for a in httpx.get(f"{api.url}/api/v1/status",
                                                    headers=api.headers()).json()["agents"]
                               if a["name"] == "e2e-bot"], timeout=20)
    assert status[0]["agent_type"] == "generic"

    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    second = wait_for(lambda: (pid := read_pid(pidfile)) != first and pid and alive(pid) and pid,
                      timeout=20)
    restarted_after = time.monotonic() - killed_at

    assert restarted_after < HEARTBEAT_INTERVAL, "not restarted within one heartbeat interval"
    events = wait_for(lambda: (found := api.events("e2e-bot")) and
                      [e["type"] for e in found].count("restart_succeeded") == 1 and found,
                      timeout=20)
    attempt = [e for e in events if e["type"] == "restart_attempt"][-1]
    # The agent was not the runner's child, so its exit status is unknown.
    assert attempt["details"]["exit_code"] is None
    assert "is not running" in attempt["details"]["reason"]
    assert attempt["details"]["attempt"] == 1
    assert attempt["details"]["target"] == str(pidfile)
    assert attempt["details"]["type"] == "process"
    assert alive(second)
    assert runner.stop() == 0
    assert alive(second), "stopping the runner must not stop the agent"


def test_crash_loop_backs_off_and_reports_once(api, start_runner, tmp_path):
    pidfile = tmp_path / "bot.pid"
    crash = agent_command("-", "--exit-after", "0.1", "--exit-code", "4")
    start_runner(watch_table(pidfile, crash, backoff_initial=1.0, crash_loop_exits=4,
                             crash_loop_window=120))

    events = wait_for(lambda: (found := api.events("e2e-bot")) and
                      any(e["type"] == "crash_loop" for e in found) and found, timeout=40)
    time.sleep(3)  # long enough for two more attempts if the runner kept going
    events = api.events("e2e-bot")

    types = [e["type"] for e in events]
    assert types.count("crash_loop") == 1
    attempts = [e for e in events if e["type"] == "restart_attempt"]
    assert [e["details"]["attempt"] for e in attempts] == [1, 2, 3, 4]
    failures = [e for e in events if e["type"] == "restart_failed"]
    assert {e["details"]["exit_code"] for e in failures} == {4}
    times = [parse(e["time"]) for e in attempts]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps[1] > gaps[0] * 1.3, f"no backoff between attempts: {gaps}"
    assert gaps[2] > gaps[1] * 1.3, f"no backoff between attempts: {gaps}"


def parse(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_restart_command_executed_and_result_stored(api, start_runner, tmp_path):
    pidfile = tmp_path / "bot.pid"
    start_runner(watch_table(pidfile, "exec " + agent_command(pidfile)))
    first = wait_for(lambda: (pid := read_pid(pidfile)) and alive(pid) and pid, timeout=20)
    wait_for(lambda: any(e["type"] == "restart_succeeded" for e in api.events("e2e-bot")))

    with psycopg.connect(api.database_url, autocommit=True) as conn:
        command_id = conn.execute(
            "INSERT INTO restart_commands (project_id, agent_id, action, type, target, reason) "
            "SELECT project_id, id, 'restart', 'process', %s, 'no progress' FROM agents "
            "WHERE name = 'e2e-bot' RETURNING id", (str(pidfile),)).fetchone()[0]

    wait_for(lambda: (pid := read_pid(pidfile)) != first and pid and alive(pid), timeout=20)
    with psycopg.connect(api.database_url) as conn:
        row = wait_for(lambda: (found := conn.execute(
            "SELECT status, result FROM restart_commands WHERE id = %s",
            (command_id,)).fetchone()) and found[0] == "completed" and found, timeout=20)
    assert "running again" in row[1]
    assert not alive(first)


def test_stop_command_holds_target_stopped(api, start_runner, tmp_path):
    pidfile = tmp_path / "bot.pid"
    start_runner(watch_table(pidfile, "exec " + agent_command(pidfile)))
    first = wait_for(lambda: (pid := read_pid(pidfile)) and alive(pid) and pid, timeout=20)
    wait_for(lambda: any(e["type"] == "restart_succeeded" for e in api.events("e2e-bot")))

    with psycopg.connect(api.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO restart_commands (project_id, agent_id, action, type, target, reason) "
            "SELECT project_id, id, 'stop', 'process', %s, 'cost_exceeded: daily budget' "
            "FROM agents WHERE name = 'e2e-bot'", (str(pidfile),))

    wait_for(lambda: not alive(first), timeout=20)
    wait_for(lambda: any(e["type"] == "budget_stop" for e in api.events("e2e-bot")))
    time.sleep(2 * HEARTBEAT_INTERVAL)  # the runner must not restart it meanwhile
    assert [e["type"] for e in api.events("e2e-bot")].count("restart_attempt") == 1
    assert not alive(read_pid(pidfile))
    holds = list((tmp_path / "state" / "holds").glob("*.json"))
    assert len(holds) == 1

    done = subprocess.run([sys.executable, "-m", "clevagent_runner", "reset", "e2e-bot",
                           "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=30)
    assert "released the hold" in done.stdout
    wait_for(lambda: (pid := read_pid(pidfile)) != first and pid and alive(pid), timeout=20)
