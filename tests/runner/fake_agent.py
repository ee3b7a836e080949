"""A stand-in agent for the runner tests: writes its PID file, then sleeps or exits.

Usage: fake_agent.py PIDFILE [--exit-after SECONDS] [--exit-code N] [--ignore-term] [TOKEN...]
Extra words (TOKEN) only make the command line unique for substring matching.
"""

import argparse
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("pidfile")
parser.add_argument("--exit-after", type=float, default=None)
parser.add_argument("--exit-code", type=int, default=0)
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("tokens", nargs="*")
args = parser.parse_args()

if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if args.pidfile != "-":
    with open(args.pidfile + ".tmp", "w") as file:
        file.write(f"{os.getpid()}\n")
    os.replace(args.pidfile + ".tmp", args.pidfile)

deadline = time.monotonic() + (args.exit_after if args.exit_after is not None else 600)
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(args.exit_code)
