"""The demo's server process: the API of `clevagent serve` with demo-speed detectors.

`python -m clevagent_server.demo.server --database-url URL --port PORT`

The detectors' production timing waits minutes on purpose: an agent counts as stuck only
after 300 s without progress, and daily cost is counted 30 s behind the clock. This
process runs `clevagent serve` with the shorter limits in DEMO_SETTINGS, so that a
newcomer sees every detection within a minute. It serves only the demo's private
database.
"""

import argparse
import dataclasses
import logging
import sys

from clevagent_server import serve
from clevagent_server.demo.scenario import DETECTOR_INTERVAL_SECONDS
from clevagent_server.detectors.settings import DetectorSettings

DEMO_SETTINGS = dataclasses.replace(
    DetectorSettings.for_cycle(DETECTOR_INTERVAL_SECONDS),
    # Dead after 11 s of silence for a 1 s interval, instead of 61 s.
    grace_seconds=10.0,
    # Stuck after 8 s without progress, instead of 300 s.
    no_progress_min_seconds=8.0,
    # On an idle loopback server a heartbeat commits well within 3 s of its timestamp.
    cost_lag_seconds=3.0,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m clevagent_server.demo.server")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    options = serve.ServeOptions(
        host=args.host,
        port=args.port,
        detector_interval=DETECTOR_INTERVAL_SECONDS,
        detector_settings=DEMO_SETTINGS,
    )
    serve.run(args.database_url, options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
