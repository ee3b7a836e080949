"""The demo's agent processes: `python -m clevagent_server.demo.agents NAME`.

Each is an ordinary program built with the SDK and the real openai client; the demo
points the client at its loopback stand-in through OPENAI_BASE_URL. The environment
also carries CLEVAGENT_API_KEY, CLEVAGENT_ENDPOINT and CLEVAGENT_DEMO_DIR, the demo's
run directory, where an agent records the moment its fault starts (faults/NAME.json) and
the crashing agent keeps its PID file (pids/NAME.pid) for the runner.
"""

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import openai

import clevagent
from clevagent_server.demo import scenario
from clevagent_server.demo.scenario import DemoAgent

CRASH_EXIT_STATUS = 3


class Agent:
    """The state one demo agent's behaviour works with: its client, clock and files."""

    def __init__(self, spec: DemoAgent, run_dir: Path) -> None:
        self.spec = spec
        self.run_dir = run_dir
        self.llm = openai.OpenAI(max_retries=0, timeout=10.0)
        self.started = time.monotonic()
        self.deadline = self.started + scenario.AGENT_MAX_SECONDS
        self.step = 0

    @property
    def fault_file(self) -> Path:
        return fault_file(self.run_dir, self.spec.name)

    def in_normal_phase(self, extra_seconds: float = 0.0) -> bool:
        return time.monotonic() - self.started < scenario.NORMAL_PHASE_SECONDS + extra_seconds

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def ask(self, prompt: str, model: str = scenario.CHEAP_MODEL, max_tokens: int = 200) -> None:
        """Call the chat model; an error of the stand-in only costs this step."""
        try:
            self.llm.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
            )
        except openai.OpenAIError as error:
            print(f"{self.spec.name}: model call failed: {error}", file=sys.stderr)

    def work_normally(self) -> None:
        """Do one step of useful work: a model call, an iteration and now and then a tool."""
        self.step += 1
        self.ask(f"Summarise article {self.step} in three sentences.")
        if self.step % 8 == 0:
            clevagent.log_tool_call("fetch_article", {"id": self.step})
        clevagent.log_iteration()

    def record_fault(self) -> None:
        """Write down when the fault starts, so the demo can time its detection."""
        write_json(self.fault_file, {"agent": self.spec.name, "time": time.time()})

    def pace(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline - time.monotonic())))


def run_healthy(agent: Agent) -> None:
    while agent.running():
        agent.work_normally()
        agent.pace(1.0)


def run_looping(agent: Agent) -> None:
    """Work normally, then call the same search again and again, burning tokens.

    The iteration counter keeps moving, as it does in real loops, so only the loop
    signals (tool-call rate, identical calls) can tell.
    """
    while agent.running() and agent.in_normal_phase():
        agent.work_normally()
        agent.pace(2.0)

    agent.record_fault()
    prompt = "Find the latest NVDA share price."
    while agent.running():
        agent.ask(prompt, max_tokens=400)
        clevagent.log_prompt(prompt)
        clevagent.log_tool_call("web_search", {"query": "latest NVDA share price"})
        clevagent.log_iteration()
        agent.pace(1 / 3)


def run_overspending(agent: Agent) -> None:
    """Work cheaply, then write long reports with an expensive model, about $0.16 each.

    The fault's start is the heartbeat that takes the day's cost past the budget, which
    the demo reads from the server, because the server prices the calls.
    """
    while agent.running() and agent.in_normal_phase():
        agent.work_normally()
        agent.pace(1.0)

    while agent.running():
        agent.ask(
            "Write the full market report.", model=scenario.EXPENSIVE_MODEL, max_tokens=16_000
        )
        clevagent.log_iteration()
        agent.pace(1.0)


def run_crashing(agent: Agent) -> None:
    """Work normally, then exit without any cleanup, as a process killed by a fatal error.

    The runner relaunches it. The relaunched process sees that the fault was recorded
    and keeps working normally.
    """
    write_pid_file(pid_file(agent.run_dir, agent.spec.name))
    relaunched = agent.fault_file.exists()
    while agent.running() and (relaunched or agent.in_normal_phase(extra_seconds=2.0)):
        agent.work_normally()
        agent.pace(1.0)
    if not agent.running():
        return

    agent.record_fault()
    print(
        f"{agent.spec.name}: fatal error, exiting with status {CRASH_EXIT_STATUS}",
        file=sys.stderr,
        flush=True,
    )
    # os._exit skips atexit and the SDK's final heartbeat, as a real crash would.
    os._exit(CRASH_EXIT_STATUS)


def run_hanging(agent: Agent) -> None:
    """Work normally, then block as on a read that never returns.

    The SDK's thread keeps sending heartbeats, so the agent looks alive, but its iteration
    counter stops.
    """
    while agent.running() and agent.in_normal_phase():
        agent.work_normally()
        agent.pace(1.0)

    agent.record_fault()
    threading.Event().wait(max(0.0, agent.deadline - time.monotonic()))


BEHAVIOURS: dict[str, Callable[[Agent], None]] = {
    scenario.HEALTHY: run_healthy,
    scenario.LOOPING: run_looping,
    scenario.OVERSPENDING: run_overspending,
    scenario.CRASHING: run_crashing,
    scenario.HANGING: run_hanging,
}


def fault_file(run_dir: Path, name: str) -> Path:
    return run_dir / "faults" / f"{name}.json"


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / "pids" / f"{name}.pid"


def write_json(path: Path, data: object) -> None:
    """Write path atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(data))
    partial.replace(path)


def write_pid_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m clevagent_server.demo.agents NAME", file=sys.stderr)
        return 2
    try:
        spec = scenario.agent_named(argv[0])
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2

    run_dir = Path(os.environ["CLEVAGENT_DEMO_DIR"])
    clevagent.init(
        api_key=os.environ["CLEVAGENT_API_KEY"],
        agent=spec.name,
        interval=scenario.HEARTBEAT_SECONDS,
        agent_type="demo",
    )
    BEHAVIOURS[spec.behaviour](Agent(spec, run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
