"""A stand-in for launchctl: print, kickstart -k, bootout and bootstrap.

Services live in the JSON file named by STANDIN_STATE, keyed by service target
(gui/501/com.me.agent); "plists" maps plist paths to service targets. Behaviour reproduced
(macOS 13 and later): `print` of a service that is not loaded writes 'Could not find
service "LABEL" in domain for port' to stderr and exits 113, as does `kickstart` of one;
`print` shows the service as a block of `key = value` lines with nested blocks.
"""

import json
import os
import sys

state_path = os.environ["STANDIN_STATE"]
with open(state_path) as file:
    state = json.load(file)
state["calls"].append(sys.argv[1:])


def save() -> None:
    with open(state_path, "w") as out:
        json.dump(state, out)


def not_found(target: str) -> None:
    label = target.rsplit("/", 1)[-1]
    print(f'Could not find service "{label}" in domain for port', file=sys.stderr)
    save()
    sys.exit(113)


verb = sys.argv[1]
services = state["services"]

if verb == "print":
    target = sys.argv[2]
    service = services.get(target)
    if service is None:
        not_found(target)
    lines = [f"{target} = {{", "\tactive count = 1", f"\tpath = {service['path']}",
             "\ttype = LaunchAgent", f"\tstate = {service['state']}", "",
             "\tprogram = /usr/bin/python3", "\targuments = {", "\t\t/usr/bin/python3",
             "\t\tstate = not a property", "\t}", "", f"\truns = {service['runs']}"]
    if service["state"] == "running":
        lines.append(f"\tpid = {service['pid']}")
    lines += [f"\tlast exit code = {service['last_exit']}", "}"]
    print("\n".join(lines))
elif verb == "kickstart":
    target = sys.argv[-1]
    service = services.get(target)
    if service is None:
        not_found(target)
    service.update(state="running", pid=service["pid"] + 1, runs=service["runs"] + 1)
elif verb == "bootout":
    target = sys.argv[2]
    if services.pop(target, None) is None:
        print("Boot-out failed: 3: No such process", file=sys.stderr)
        save()
        sys.exit(3)
elif verb == "bootstrap":
    target = state["plists"][sys.argv[3]]
    services[target] = {"path": sys.argv[3], "state": "not running", "pid": 500, "runs": 0,
                        "last_exit": "(never exited)"}
save()
