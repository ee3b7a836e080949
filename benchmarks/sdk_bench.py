"""Measure what the Python SDK costs the agent's own thread.

Three measurements, each against a baseline taken in the same run:
- ping() against a no-op function with the same signature;
- an OpenAI chat completion to a local stand-in server, with auto_cost and without it
  (the baseline runs first, before the SDK wraps the library);
- `import clevagent` in a fresh interpreter against a bare interpreter start.

Run from the repository root with the development virtualenv active:

    python benchmarks/sdk_bench.py [--seconds 2] [--output results.md]

It prints a Markdown table; docs/benchmarks-sdk.md records one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETION = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello"}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}).encode()


class CompletionHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add about 40 ms to every call and hide everything else.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(COMPLETION)))
        self.end_headers()
        self.wfile.write(COMPLETION)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def per_call_seconds(function: Callable[[], object], seconds: float, batch: int) -> list[float]:
    """Time batches of calls for about `seconds`; return the mean time per call of each."""
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(batch):
            function()
        samples.append((time.perf_counter() - start) / batch)
    return samples


def no_op_ping(status: str = "ok", message: str | None = None, tokens: int | None = None,
               cost_usd: float | None = None, tool_calls: int | None = None,
               iteration_count: int | None = None, memory_mb: float | None = None) -> None:
    return None


def bench_ping(seconds: float) -> dict[str, float]:
    import clevagent

    baseline = per_call_seconds(lambda: no_op_ping(tokens=10, cost_usd=0.001), seconds, 1000)
    # A closed port: the worker's sends fail fast and stay off the measured thread.
    clevagent.init(api_key="cv_bench", agent="bench", endpoint="http://127.0.0.1:9",
                   interval=3600, auto_cost=False, shutdown_timeout=0)
    measured = per_call_seconds(lambda: clevagent.ping(tokens=10, cost_usd=0.001),
                                seconds, 1000)
    clevagent.shutdown(timeout=0)
    return {"baseline": statistics.median(baseline), "measured": statistics.median(measured)}


def llm_call_seconds(instrumented: bool, seconds: float) -> float:
    """Return the median time of one chat completion to a local server in this process."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CompletionHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    messages = [{"role": "user", "content": "hi"}]
    if instrumented:
        import clevagent

        clevagent.init(api_key="cv_bench", agent="bench", endpoint="http://127.0.0.1:9",
                       interval=3600, shutdown_timeout=0)
    from openai import OpenAI

    with OpenAI(api_key="sk-bench", base_url=url, max_retries=0) as client:
        def call() -> object:
            return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

        call()  # warm the connection pool
        samples = per_call_seconds(call, seconds, 20)
    server.shutdown()
    server.server_close()
    return statistics.median(samples)


def bench_llm_call(seconds: float, rounds: int) -> dict[str, float]:
    """Alternate fresh processes with and without the SDK, so that load from other
    programs on the machine hits both sides alike; the baseline never imports it."""
    results: dict[str, list[float]] = {"baseline": [], "measured": []}
    for _ in range(rounds):
        for side in ("baseline", "measured"):
            output = subprocess.run(
                [sys.executable, __file__, "--llm-side", side, "--seconds", str(seconds)],
                check=True, capture_output=True, text=True).stdout
            results[side].append(float(output))
    return {side: statistics.median(values) for side, values in results.items()}


def bench_import(runs: int) -> dict[str, float]:
    def start(code: str) -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - began

    baseline = [start("pass") for _ in range(runs)]
    measured = [start("import clevagent") for _ in range(runs)]
    return {"baseline": statistics.median(baseline), "measured": statistics.median(measured)}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info
                     if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def row(name: str, result: dict[str, float], unit: float, label: str) -> str:
    ratio = result["measured"] / result["baseline"] if result["baseline"] else float("nan")
    extra = (result["measured"] - result["baseline"]) * unit
    return (f"| {name} | {result['baseline'] * unit:.2f} {label} | "
            f"{result['measured'] * unit:.2f} {label} | {ratio:.2f}x | "
            f"+{extra:.2f} {label} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="time spent on each timed loop, in seconds (default 2)")
    parser.add_argument("--import-runs", type=int, default=10,
                        help="interpreter starts per import measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating process pairs for the LLM call (default 3)")
    parser.add_argument("--output", help="also write the table to this file")
    parser.add_argument("--llm-side", choices=["baseline", "measured"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.llm_side:
        print(llm_call_seconds(arguments.llm_side == "measured", arguments.seconds))
        return

    ping = bench_ping(arguments.seconds)
    llm = bench_llm_call(arguments.seconds, arguments.rounds)
    imports = bench_import(arguments.import_runs)

    lines = [
        f"Machine: {machine()}",
        "",
        "| measurement | baseline | with the SDK | ratio | added |",
        "|---|---|---|---|---|",
        row("ping(tokens, cost_usd), median per call", ping, 1e6, "µs"),
        row("OpenAI chat completion to a local server, median", llm, 1e3, "ms"),
        row("interpreter start with `import clevagent`, median", imports, 1e3, "ms"),
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if arguments.output:
        with open(arguments.output, "w") as output:
            output.write(text)


if __name__ == "__main__":
    main()
