"""A stand-in for systemctl: show, restart and stop, with systemd's output and exit codes.

Unit states live in the JSON file named by STANDIN_STATE; every call is appended to its
"calls" list. Behaviour reproduced (systemd 252):
- `show UNIT -p A,B` prints KEY=VALUE lines and exits 0, also for a unit that does not
  exist, which shows LoadState=not-found.
- `restart` of a missing unit: "Failed to restart U: Unit U not found." on stderr, exit 5;
  of a masked unit: "... Unit U is masked.", exit 1; past the start limit: "Job for U failed
  because start of the service was attempted too often." and more lines, exit 1.
"""

import json
import os
import sys

state_path = os.environ["STANDIN_STATE"]
with open(state_path) as file:
    state = json.load(file)

args = [a for a in sys.argv[1:] if a not in ("--user", "--no-pager")]
state["calls"].append(sys.argv[1:])
verb, unit = args[0], args[1]
if "." not in unit:
    unit += ".service"
units = state["units"]
found = units.get(unit, {"LoadState": "not-found", "ActiveState": "inactive",
                         "SubState": "dead", "Result": "success"})


def save() -> None:
    with open(state_path, "w") as out:
        json.dump(state, out)


if verb == "show":
    wanted = [a.split("=", 1)[1] for a in args if a.startswith("--property=")]
    names = wanted[0].split(",") if wanted else list(found)
    for name in names:
        print(f"{name}={found.get(name, '')}")
    save()
    sys.exit(0)

if found["LoadState"] == "not-found":
    print(f"Failed to {verb} {unit}: Unit {unit} not found.", file=sys.stderr)
    save()
    sys.exit(5)
if found["LoadState"] == "masked":
    print(f"Failed to {verb} {unit}: Unit {unit} is masked.", file=sys.stderr)
    save()
    sys.exit(1)

if verb == "restart":
    if found.get("start_limited"):
        found.update(ActiveState="failed", SubState="failed", Result="start-limit-hit")
        print(f"Job for {unit} failed because start of the service was attempted too often.\n"
              f'See "systemctl status {unit}" and "journalctl -xeu {unit}" for details.\n'
              f'To force a start use "systemctl reset-failed {unit}"\n'
              f'followed by "systemctl start {unit}" again.', file=sys.stderr)
        save()
        sys.exit(1)
    found.update(ActiveState="active", SubState="running", Result="success", MainPID="4321",
                 ExecMainStatus="0")
elif verb == "stop":
    found.update(ActiveState="inactive", SubState="dead", Result="success", MainPID="0")
save()
