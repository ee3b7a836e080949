"""Apply the ClevAgent objects to a Grafana that already runs, through its HTTP API.

Every object has a fixed uid or name, so a push updates what an earlier push created
instead of adding copies. An object whose current state already contains everything we
would send is left alone and reported unchanged; Grafana adds defaults of its own to what
it stores, so "contains" is the comparison, not equality.

Grafana never returns secrets (the datasource password, bot tokens and webhook URLs come
back redacted), so a changed secret alone does not make an object look changed: `force`
sends every object regardless.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from clevagent_server.grafana import alerts, message_templates, notifications
from clevagent_server.grafana.dashboards import DASHBOARDS
from clevagent_server.grafana.export import dashboard_json
from clevagent_server.grafana.uids import FOLDER_TITLE, FOLDER_UID

logger = logging.getLogger(__name__)

Action = Literal["created", "updated", "unchanged"]

# The placeholder Grafana returns in place of a secret.
REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class Change:
    """The action a push took on one object."""

    kind: str
    name: str
    action: Action

    def __str__(self) -> str:
        return f"{self.action:<9} {self.kind} {self.name}"


@dataclass
class PushPlan:
    """Everything a push sends, built from the same code as the provisioning files."""

    datasource: dict[str, Any]
    environ: Mapping[str, str]
    include_policy: bool = True
    force: bool = False
    changes: list[Change] = field(default_factory=list)


def contains(current: Any, desired: Any) -> bool:
    """Return True if current contains every key and value of desired (lists item by item).

    A redacted secret in current matches any desired value.
    """
    if current == REDACTED:
        return True
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            key in current and contains(current[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(contains(c, d) for c, d in zip(current, desired, strict=True))
        )
    return bool(current == desired)


def _fetch(get: Callable[[], Any]) -> Any | None:
    """Return the result of get(), or None when Grafana returns 404."""
    try:
        return get()
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise


def _apply(plan: PushPlan, kind: str, name: str, current: Any | None, desired: Any,
           create: Callable[[], Any], update: Callable[[], Any], stale: bool = False) -> None:
    """Create the object when current is None, update it when it differs (or is stale)."""
    if current is None:
        create()
        action: Action = "created"
    elif plan.force or stale or not contains(current, desired):
        update()
        action = "updated"
    else:
        action = "unchanged"
    logger.info("%s %s %s", action, kind, name)
    plan.changes.append(Change(kind, name, action))


def push_datasource(api: GrafanaApi, plan: PushPlan) -> None:
    payload = plan.datasource
    uid = payload["uid"]
    current = _fetch(lambda: api.datasource.get_datasource_by_uid(uid))
    visible = {k: v for k, v in payload.items() if k != "secureJsonData"}
    no_password = current is not None and not current.get("secureJsonFields", {}).get("password")
    _apply(plan, "datasource", uid, current, visible,
           lambda: api.datasource.create_datasource(payload),
           lambda: api.datasource.update_datasource_by_uid(uid, payload), stale=no_password)


def push_folder(api: GrafanaApi, plan: PushPlan) -> None:
    current = _fetch(lambda: api.folder.get_folder(FOLDER_UID))
    _apply(plan, "folder", FOLDER_UID, current, {"title": FOLDER_TITLE},
           lambda: api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID),
           lambda: api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True))


def push_dashboards(api: GrafanaApi, plan: PushPlan) -> None:
    for build in DASHBOARDS:
        model = dashboard_json(build())
        uid = str(model["uid"])
        current = _fetch(lambda uid=uid: api.dashboard.get_dashboard(uid))  # type: ignore[misc]
        desired = {"dashboard": model, "meta": {"folderUid": FOLDER_UID}}
        body = {"dashboard": {**model, "id": None}, "folderUid": FOLDER_UID, "overwrite": True,
                "message": "clevagent grafana push"}
        save = lambda body=body: api.dashboard.update_dashboard(body)  # noqa: E731
        _apply(plan, "dashboard", uid, current, desired, save, save)


def _rule_payload(rule: alerts.AlertRule) -> dict[str, Any]:
    return {
        **alerts.rule_definition(rule),
        "orgID": 1,
        "folderUID": FOLDER_UID,
        "ruleGroup": alerts.RULE_GROUP,
    }


def push_alert_rules(api: GrafanaApi, plan: PushPlan) -> None:
    provisioning = api.alertingprovisioning
    for rule in alerts.ALERT_RULES:
        payload = _rule_payload(rule)
        current = _fetch(lambda uid=rule.uid: provisioning.get_alertrule(uid))  # type: ignore[misc]
        _apply(plan, "alert rule", rule.uid, current, payload,
               lambda p=payload: provisioning.create_alertrule(p, disable_provenance=True),
               lambda p=payload, uid=rule.uid: provisioning.update_alertrule(
                   uid, p, disable_provenance=True))

    # A group created by its first rule gets Grafana's default interval: set ours.
    group = provisioning.get_rule_group(FOLDER_UID, alerts.RULE_GROUP)
    interval = 60
    desired = {"interval": interval}
    _apply(plan, "rule group", alerts.RULE_GROUP, group, desired, lambda: None,
           lambda: provisioning.update_rule_group(
               FOLDER_UID, alerts.RULE_GROUP, {**group, "interval": interval},
               disable_provenance=True))


def push_notifications(api: GrafanaApi, plan: PushPlan) -> None:
    provisioning = api.alertingprovisioning
    name = message_templates.TEMPLATE_NAME
    template = {"template": message_templates.TEMPLATE}
    current = _fetch(lambda: provisioning.get_template(name))
    save_template = lambda: provisioning.create_or_update_template(  # noqa: E731
        name, template, disable_provenance=True)
    _apply(plan, "template", name, current, template, save_template, save_template)

    named = provisioning.get_contactpoints(notifications.CONTACT_POINT_NAME)
    existing = {point["uid"]: point for point in named}
    for channel in notifications.configured_channels(plan.environ):
        payload = {"name": notifications.CONTACT_POINT_NAME,
                   **notifications.receiver(channel, plan.environ, inline=True)}
        uid = payload["uid"]
        _apply(plan, "contact point", uid, existing.get(uid), payload,
               lambda p=payload: provisioning.create_contactpoint(p, disable_provenance=True),
               lambda p=payload, uid=uid: provisioning.update_contactpoint(
                   uid, p, disable_provenance=True))

    mute = notifications.mute_timing()
    current = _fetch(lambda: provisioning.get_mute_timing(notifications.MUTE_TIMING_NAME))
    _apply(plan, "mute timing", notifications.MUTE_TIMING_NAME, current, mute,
           lambda: provisioning.create_mute_timing(mute, disable_provenance=True),
           lambda: provisioning.update_mute_timing(notifications.MUTE_TIMING_NAME, mute))

    if plan.include_policy:
        tree = notifications.policy_tree(notifications.policy_receiver(plan.environ))
        set_tree = lambda: provisioning.set_notification_policy_tree(  # noqa: E731
            tree, disable_provenance=True)
        _apply(plan, "notification policy", "root",
               provisioning.get_notification_policy_tree(), tree, set_tree, set_tree)


def push(api: GrafanaApi, plan: PushPlan) -> list[Change]:
    """Create or update every object in dependency order and return what changed."""
    push_datasource(api, plan)
    push_folder(api, plan)
    push_dashboards(api, plan)
    push_alert_rules(api, plan)
    push_notifications(api, plan)
    return plan.changes
