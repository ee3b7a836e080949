"""`clevagent serve` and `clevagent detect`: the processes that run the stack.

serve runs the API, and beside it, in threads of the parent process, the detector cycle
and the OTLP exporter. Both background loops are safe to run in several processes at
once: the detector elects one leader through an advisory lock.
"""

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from clevagent_server.db import database, queries
from clevagent_server.db.migrate import migrate
from clevagent_server.detectors import service as detector_service
from clevagent_server.detectors.settings import DetectorSettings
from clevagent_server.ingest import metrics, otel
from clevagent_server.ingest.app import create_app

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    log_level: str = "INFO"
    detectors: bool = True
    detector_interval: float = 10.0
    otel_interval: float = 60.0
    metrics_token: str | None = None
    # None: the production limits for detector_interval (the demo shortens them).
    detector_settings: DetectorSettings | None = None


def prepare_database(url: str) -> None:
    """Apply pending migrations and make sure the coming days' heartbeat partitions exist."""
    applied = migrate(url)
    if applied:
        logger.info("applied %d migrations", len(applied))
    with database.connect(url, autocommit=True) as conn:
        conn.execute(queries.load("server/ensure_partitions"))
        if conn.execute(queries.load("server/no_projects")).fetchone() == (True,):
            logger.info(
                "no projects yet: create one with `clevagent project create NAME` and a key "
                "with `clevagent key create NAME`, or watch the whole stack at work with "
                "`clevagent demo`"
            )


def app_from_environment() -> FastAPI:
    """Build the app in a uvicorn worker process, which receives its settings by environment."""
    return create_app(
        os.environ["CLEVAGENT_DATABASE_URL"],
        metrics_token=os.environ.get("CLEVAGENT_METRICS_TOKEN"),
    )


def run(url: str, options: ServeOptions) -> None:
    """Serve the API until SIGINT or SIGTERM, with the background loops beside it."""
    prepare_database(url)
    loops: list[tuple[str, Callable[[threading.Event], None]]] = [
        ("otel-exporter", lambda stop: otel.run_exporter(url, stop, options.otel_interval)),
    ]
    if options.detectors:
        loops.append(
            (
                "detector",
                lambda stop: detector_service.run(
                    url, stop, options.detector_interval, options.detector_settings
                ),
            )
        )
    with background(loops), _exit_cleanly_on_signals():
        logger.info("serving the API on http://%s:%d", options.host, options.port)
        _run_uvicorn(url, options)
    logger.info("stopped")


def detect(url: str, cycle_seconds: float) -> None:
    """Run only the detector cycle in this process, until SIGINT or SIGTERM."""
    prepare_database(url)
    stop = threading.Event()
    with stop_on_signals(stop):
        detector_service.run(url, stop, cycle_seconds)


@contextmanager
def background(loops: list[tuple[str, Callable[[threading.Event], None]]]) -> Iterator[None]:
    """Run each loop in a daemon thread; on exit, ask them to stop and wait for them."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=body, args=(stop,), name=name, daemon=True) for name, body in loops
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
            if thread.is_alive():
                logger.warning("%s did not stop within 30 s; leaving it to exit", thread.name)


def _run_uvicorn(url: str, options: ServeOptions) -> None:
    common = {
        "host": options.host,
        "port": options.port,
        "log_level": options.log_level.lower(),
        "access_log": False,
    }
    if options.workers == 1:
        app = create_app(url, metrics_token=options.metrics_token)
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    # Worker processes count requests in files that /metrics adds up.
    with tempfile.TemporaryDirectory(prefix="clevagent-metrics-") as directory:
        metrics.prepare_multiprocess_dir(Path(directory))
        os.environ["CLEVAGENT_DATABASE_URL"] = url
        if options.metrics_token:
            os.environ["CLEVAGENT_METRICS_TOKEN"] = options.metrics_token
        uvicorn.run(
            "clevagent_server.serve:app_from_environment",
            factory=True,
            workers=options.workers,
            **common,  # type: ignore[arg-type]
        )


class _Stopped(Exception):
    pass


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped


@contextmanager
def _exit_cleanly_on_signals() -> Iterator[None]:
    """Let SIGINT and SIGTERM end serve through the normal exit path.

    uvicorn shuts down gracefully on these signals and then raises the signal again for
    the handler that was installed before it. With Python's defaults that kills the
    process before atexit handlers run, and one of them stops the embedded PostgreSQL.
    """
    import signal

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise_stopped)
    try:
        yield
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into the stop flag, so every step can end in order."""
    import signal

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
