"""The docker watch type against a stand-in Docker Engine API on a unix socket.

The stand-in implements the endpoints the runner calls as the Engine API documents them:
GET /containers/{id}/json (State.Status, Running, Paused, Restarting, ExitCode, Pid,
Health.Status; RestartCount), POST /containers/{id}/restart and /stop (204; 304 for a stop
of a stopped container), and 404 with {"message": "No such container: ..."}.
"""

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

import pytest

from clevagent_runner.client import Outbox
from clevagent_runner.config import TargetConfig
from clevagent_runner.docker import DockerDriver, EngineClient, socket_path
from clevagent_runner.liveness import ActionError
from clevagent_runner.state import StateStore
from clevagent_runner.worker import TargetWorker


class Engine:
    """Container states and the requests received."""

    def __init__(self) -> None:
        self.containers: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []

    def add(self, name: str, status: str = "running", exit_code: int = 0,
            health: str | None = None, restarts: int = 0) -> None:
        state = {"Status": status, "Running": status in ("running", "paused"),
                 "Paused": status == "paused", "Restarting": status == "restarting",
                 "ExitCode": exit_code, "Pid": 4242 if status == "running" else 0}
        if health:
            state["Health"] = {"Status": health, "FailingStreak": 0, "Log": []}
        self.containers[name] = {"Id": "f" * 64, "Name": f"/{name}", "RestartCount": restarts,
                                 "State": state}


class Handler(BaseHTTPRequestHandler):
    engine: Engine

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: object | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def container(self) -> tuple[str, str, dict | None]:
        parts = urlsplit(self.path).path.split("/")
        name, action = unquote(parts[2]), parts[3]
        self.engine.requests.append((self.command, self.path))
        return name, action, self.engine.containers.get(name)

    def do_GET(self) -> None:
        name, action, found = self.container()
        if found is None:
            self.reply(404, {"message": f"No such container: {name}"})
        else:
            self.reply(200, found)

    def do_POST(self) -> None:
        name, action, found = self.container()
        if found is None:
            self.reply(404, {"message": f"No such container: {name}"})
            return
        state = found["State"]
        if action == "stop" and not state["Running"]:
            self.reply(304)
            return
        running = action == "restart"
        state.update({"Status": "running" if running else "exited", "Running": running,
                      "ExitCode": 0 if running else 143})
        self.reply(204)


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path):
    engine = Engine()
    handler = type("BoundHandler", (Handler,), {"engine": engine})
    path = str(tmp_path / "docker.sock")
    server = Server(path, handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    engine.path = path
    yield engine
    server.shutdown()
    server.server_close()


def driver(engine, name: str = "my-bot", **options) -> DockerDriver:
    config = TargetConfig(type="docker", target=name, agent=name, stop_timeout=3, **options)
    return DockerDriver(config, EngineClient(engine.path))


def test_running_container_alive(engine):
    engine.add("my-bot", restarts=2)

    liveness = driver(engine).check()

    assert liveness.state == "alive"
    assert liveness.restart_count == 2
    assert liveness.pid == 4242
    assert engine.requests == [("GET", "/containers/my-bot/json")]


def test_exited_container_dead_with_exit_code(engine):
    engine.add("my-bot", status="exited", exit_code=137)

    liveness = driver(engine).check()

    assert liveness.state == "dead"
    assert liveness.exit_code == 137
    assert "exited" in liveness.detail


def test_unhealthy_container_dead_unless_disabled(engine):
    engine.add("my-bot", health="unhealthy")

    assert driver(engine).check().state == "dead"
    assert driver(engine, restart_unhealthy=False).check().state == "alive"


@pytest.mark.parametrize("status, health, state", [
    ("running", "healthy", "alive"),
    ("running", "starting", "starting"),
    ("restarting", None, "starting"),
    ("paused", None, "unknown"),
    ("created", None, "dead"),
    ("dead", None, "dead"),
])
def test_container_states(engine, status, health, state):
    engine.add("my-bot", status=status, health=health)

    assert driver(engine).check().state == state


def test_unknown_container_blocked(engine):
    liveness = driver(engine, name="ghost").check()

    assert liveness.state == "blocked"
    assert liveness.detail == "container not found: No such container: ghost"


def test_missing_socket_unknown(tmp_path):
    config = TargetConfig(type="docker", target="x", agent="x")

    liveness = DockerDriver(config, EngineClient(str(tmp_path / "none.sock"))).check()

    assert liveness.state == "unknown"
    assert "Docker Engine API" in liveness.detail


def test_restart_posts_with_stop_timeout(engine):
    engine.add("my-bot", status="exited", exit_code=1)
    docker = driver(engine)

    docker.restart()

    assert ("POST", "/containers/my-bot/restart?t=3") in engine.requests
    assert docker.check().state == "alive"


def test_restart_unknown_container_fails(engine):
    with pytest.raises(ActionError, match="HTTP 404: No such container: ghost"):
        driver(engine, name="ghost").restart()


def test_stop_twice_reports_already_stopped(engine):
    engine.add("my-bot")
    docker = driver(engine)

    assert docker.stop() == "docker stop done"
    assert docker.stop() == "container was already stopped"


def test_container_name_escaped(engine):
    engine.add("odd name")

    assert driver(engine, name="odd name").check().state == "alive"
    assert engine.requests == [("GET", "/containers/odd%20name/json")]


def test_worker_restarts_exited_container(engine, tmp_path):
    engine.add("my-bot", status="exited", exit_code=2)
    config = TargetConfig(type="docker", target="my-bot", agent="my-bot")
    outbox = Outbox()
    worker = TargetWorker(config, DockerDriver(config, EngineClient(engine.path)), outbox,
                          StateStore(tmp_path / "state"), 0.1)

    worker.step()
    worker.step()

    assert [e["type"] for e in outbox.events] == ["restart_attempt", "restart_succeeded"]
    assert outbox.events[0]["details"]["exit_code"] == 2
    assert worker.heartbeat()["restart_type"] == "docker"


def test_socket_path_from_docker_host():
    assert socket_path({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}) == (
        "/run/user/1000/docker.sock")
    assert socket_path({"DOCKER_HOST": "tcp://10.0.0.1:2375"}) == "/var/run/docker.sock"
    assert socket_path({}) == "/var/run/docker.sock"
