"""A loopback stand-in for the parts of Grafana's HTTP API that `clevagent grafana push` calls.

It keeps objects in memory and rejects malformed payloads as Grafana's API reference
describes: 400 with a message, 401 without a token, 404 for unknown uids, 409 for a
duplicate. Like Grafana, it returns secrets redacted and adds its own defaults to what it
stores."""

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REDACTED = "[REDACTED]"
UID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_]{1,40}$")
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
NO_DATA_STATES = {"Alerting", "NoData", "OK", "KeepLast"}
ERROR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
DEFAULT_CONTACT_POINT = "grafana-default-email"

# Required settings per integration type, and which of them Grafana treats as secrets.
REQUIRED_SETTINGS = {
    "telegram": ({"bottoken", "chatid"}, {"bottoken"}),
    "slack": ({"url"}, {"url"}),
    "discord": ({"url"}, {"url"}),
    "email": ({"addresses"}, set()),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class GrafanaState:
    token: str
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[tuple[str, str], int] = field(default_factory=dict)
    contact_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    mute_timings: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(
        default_factory=lambda: {"receiver": DEFAULT_CONTACT_POINT, "group_by": ["grafana_folder"]}
    )
    writes: list[str] = field(default_factory=list)


def _require(condition: bool, message: str, status: int = 400) -> None:
    if not condition:
        raise ApiError(status, message)


def _check_datasource(body: dict[str, Any]) -> None:
    for key in ("name", "type", "access"):
        _require(bool(body.get(key)), f"bad request data: {key} is required")
    _require(bool(UID_PATTERN.match(body.get("uid", "x"))), "invalid uid")


def _check_rule(state: GrafanaState, body: dict[str, Any]) -> None:
    for key in ("title", "condition", "data", "folderUID", "ruleGroup", "noDataState",
                "execErrState", "for", "orgID"):
        _require(key in body and body[key] not in ("", None, []),
                 f"invalid alert rule: {key} is required")
    _require(len(body["title"]) <= 190, "invalid alert rule: title is too long")
    _require(body["folderUID"] in state.folders, f"folder {body['folderUID']} not found")
    _require(body["noDataState"] in NO_DATA_STATES, "invalid alert rule: invalid noDataState")
    _require(body["execErrState"] in ERROR_STATES, "invalid alert rule: invalid execErrState")
    _require(bool(DURATION.match(body["for"])), "invalid alert rule: invalid for")
    ref_ids = {query["refId"] for query in body["data"]}
    _require(body["condition"] in ref_ids,
             f"invalid alert rule: condition {body['condition']} does not exist")
    for query in body["data"]:
        uid = query.get("datasourceUid")
        _require(uid == "__expr__" or uid in state.datasources,
                 f"invalid alert rule: data source {uid} not found")
        _require("model" in query and "relativeTimeRange" in query,
                 "invalid alert rule: query needs model and relativeTimeRange")


def _check_contact_point(body: dict[str, Any]) -> None:
    _require(bool(body.get("name")), "invalid contact point: name is required")
    kind = body.get("type")
    _require(kind in REQUIRED_SETTINGS, f"invalid contact point: unknown type {kind!r}")
    settings = body.get("settings") or {}
    required, _ = REQUIRED_SETTINGS[kind]
    missing = sorted(key for key in required if not settings.get(key))
    _require(not missing, f"invalid contact point: missing settings {missing}")


def _receivers(state: GrafanaState) -> set[str]:
    return {DEFAULT_CONTACT_POINT} | {p["name"] for p in state.contact_points.values()}


def _check_route(state: GrafanaState, route: dict[str, Any], root: bool) -> None:
    receiver = route.get("receiver")
    if root or receiver:
        _require(receiver in _receivers(state),
                 f"invalid object specification: receiver '{receiver}' does not exist")
    mutes = route.get("mute_time_intervals", [])
    _require(not (root and mutes), "invalid route: the root route cannot have mute timings")
    for name in mutes:
        _require(name in state.mute_timings, f"mute time interval '{name}' does not exist")
    for matcher in route.get("object_matchers", []):
        _require(len(matcher) == 3 and matcher[1] in ("=", "!=", "=~", "!~"),
                 f"invalid matcher {matcher}")
    for child in route.get("routes", []):
        _check_route(state, child, root=False)


def _redacted(point: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(point)
    _, secrets = REQUIRED_SETTINGS[shown["type"]]
    for key in secrets:
        if key in shown["settings"]:
            shown["settings"][key] = REDACTED
    return shown


class Handler(BaseHTTPRequestHandler):
    state: GrafanaState
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self._send(401, {"message": "Unauthorized"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = self.path.split("?")[0]
        query = self.path.partition("?")[2]
        try:
            with self.lock:
                status, result = route(self.state, method, path, query, body)
                if method != "GET":
                    self.state.writes.append(f"{method} {path}")
        except ApiError as error:
            self._send(error.status, {"message": error.message})
            return
        self._send(status, result)

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")


def _get(store: dict[str, Any], key: str, what: str) -> Any:
    _require(key in store, f"{what} not found", status=404)
    return store[key]


def route(state: GrafanaState, method: str, path: str, query: str,
          body: Any) -> tuple[int, Any]:
    """Dispatch one request; return (status, JSON body) or raise ApiError."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "datasources"]:
        return _datasources(state, method, parts[2:], body)
    if parts[:2] == ["api", "folders"]:
        return _folders(state, method, parts[2:], body)
    if parts[:2] == ["api", "dashboards"]:
        return _dashboards(state, method, parts[2:], body)
    if parts[:3] == ["api", "v1", "provisioning"]:
        return _provisioning(state, method, parts[3:], query, body)
    raise ApiError(404, f"no route for {method} {path}")


def _datasources(state: GrafanaState, method: str, rest: list[str],
                 body: Any) -> tuple[int, Any]:
    if method == "GET" and rest[:1] == ["uid"]:
        stored = _get(state.datasources, rest[1], "Data source")
        shown = {k: v for k, v in stored.items() if k != "secureJsonData"}
        return 200, {**shown, "secureJsonFields": {k: True for k in stored["secureJsonData"]}}
    if method == "POST" and not rest:
        _check_datasource(body)
        names = {d["name"] for d in state.datasources.values()}
        _require(body["name"] not in names, "data source with the same name already exists", 409)
        _require(body["uid"] not in state.datasources, "data source with the same uid exists", 409)
        state.datasources[body["uid"]] = {**body, "id": len(state.datasources) + 1}
        return 200, {"message": "Datasource added", "name": body["name"]}
    if method == "PUT" and rest[:1] == ["uid"]:
        stored = _get(state.datasources, rest[1], "Data source")
        _check_datasource(body)
        state.datasources[rest[1]] = {**body, "id": stored["id"]}
        return 200, {"message": "Datasource updated"}
    raise ApiError(405, "method not allowed")


def _folders(state: GrafanaState, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
    if method == "GET" and rest:
        return 200, _get(state.folders, rest[0], "folder")
    if method == "POST" and not rest:
        _require(bool(body.get("title")), "folder title cannot be empty")
        uid = body.get("uid", f"folder{len(state.folders)}")
        _require(uid not in state.folders, "a folder with the same uid already exists", 409)
        state.folders[uid] = {"uid": uid, "title": body["title"], "version": 1}
        return 200, state.folders[uid]
    if method == "PUT" and rest:
        stored = _get(state.folders, rest[0], "folder")
        _require(body.get("overwrite") or body.get("version") == stored["version"],
                 "the folder has been changed by someone else", 412)
        stored.update(title=body["title"], version=stored["version"] + 1)
        return 200, stored
    raise ApiError(405, "method not allowed")


def _dashboards(state: GrafanaState, method: str, rest: list[str],
                body: Any) -> tuple[int, Any]:
    if method == "GET" and rest[:1] == ["uid"]:
        return 200, _get(state.dashboards, rest[1], "Dashboard")
    if method == "POST" and rest == ["db"]:
        dashboard = body.get("dashboard") or {}
        _require(bool(dashboard.get("title")), "Dashboard title cannot be empty")
        _require(body.get("folderUid") in state.folders, "folder not found")
        uid = dashboard.get("uid")
        previous = state.dashboards.get(uid)
        if previous is not None and not body.get("overwrite"):
            raise ApiError(412, "version-mismatch")
        version = previous["dashboard"]["version"] + 1 if previous else 1
        stored = {**dashboard, "id": 1, "version": version}
        state.dashboards[uid] = {"dashboard": stored, "meta": {"folderUid": body["folderUid"]}}
        return 200, {"uid": uid, "status": "success", "version": version, "url": f"/d/{uid}"}
    raise ApiError(405, "method not allowed")


def _stored_rule(body: dict[str, Any]) -> dict[str, Any]:
    """Return the rule as Grafana keeps it: ids, and defaults in the expression models."""
    rule = copy.deepcopy(body)
    for step in rule["data"]:
        step["model"].setdefault("intervalMs", 1000)
        step["model"].setdefault("maxDataPoints", 43200)
    return {**rule, "id": 1, "provenance": "", "updated": "2026-12-04T00:00:00Z"}


def _provisioning(state: GrafanaState, method: str, rest: list[str], query: str,
                  body: Any) -> tuple[int, Any]:
    kind = rest[0]
    if kind == "alert-rules":
        if method == "GET":
            return 200, _get(state.rules, rest[1], "alert rule")
        _check_rule(state, body)
        if method == "POST":
            _require(body["uid"] not in state.rules, "a rule with this uid exists", 409)
            state.groups.setdefault((body["folderUID"], body["ruleGroup"]), 10)
        else:
            _get(state.rules, rest[1], "alert rule")
        state.rules[body["uid"]] = _stored_rule(body)
        return 201 if method == "POST" else 200, state.rules[body["uid"]]
    if kind == "folder":
        folder, group = rest[1], rest[3]
        interval = _get({"g": state.groups.get((folder, group))} if (folder, group) in state.groups
                        else {}, "g", "rule group")
        if method == "PUT":
            _require(isinstance(body.get("interval"), int) and body["interval"] > 0,
                     "invalid rule group: interval must be a positive number of seconds")
            state.groups[(folder, group)] = body["interval"]
            interval = body["interval"]
        rules = [r for r in state.rules.values()
                 if (r["folderUID"], r["ruleGroup"]) == (folder, group)]
        return 200, {"title": group, "folderUid": folder, "interval": interval, "rules": rules}
    if kind == "contact-points":
        return _contact_points(state, method, rest[1:], query, body)
    if kind == "templates":
        if method == "GET":
            return 200, {"name": rest[1], "template": _get(state.templates, rest[1], "template")}
        _require(bool(body.get("template")), "invalid template: template is required")
        state.templates[rest[1]] = body["template"]
        return 202, {"name": rest[1], "template": body["template"]}
    if kind == "mute-timings":
        if method == "GET":
            return 200, _get(state.mute_timings, rest[1], "mute timing")
        _require(bool(body.get("name")) and "time_intervals" in body, "invalid mute timing")
        if method == "POST":
            _require(body["name"] not in state.mute_timings, "mute timing exists", 409)
        state.mute_timings[body["name"]] = {**body, "version": "1"}
        return 201, body
    if kind == "policies":
        if method == "GET":
            return 200, state.policy
        _check_route(state, body, root=True)
        state.policy = body
        return 202, {"message": "policies updated"}
    raise ApiError(404, "not found")


def _contact_points(state: GrafanaState, method: str, rest: list[str], query: str,
                    body: Any) -> tuple[int, Any]:
    if method == "GET":
        name = query.removeprefix("name=") if query.startswith("name=") else None
        points = [_redacted(p) for p in state.contact_points.values()
                  if name is None or p["name"] == name]
        return 200, points
    _check_contact_point(body)
    if method == "POST":
        _require(body["uid"] not in state.contact_points, "contact point uid exists", 409)
    else:
        _get(state.contact_points, rest[0], "contact point")
    state.contact_points[body["uid"]] = body
    return 202, body


class FakeGrafana:
    """The stand-in, listening on a loopback port until stop()."""

    def __init__(self, token: str = "glsa_test") -> None:
        self.state = GrafanaState(token=token)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
