"""Contact points, message templates, the notification policy and a mute timing.

Provisioning files cannot be conditional, and Grafana refuses to start when a provisioned
contact point lacks a required setting. So the channels are chosen when the files are
written: `clevagent grafana export` (run by the compose stack before Grafana starts) and
`clevagent grafana push` include a channel only when its environment variables are set.
The files refer to the secrets as ${VAR}, which Grafana substitutes from its own
environment; push sends the values themselves, because the remote Grafana lacks them.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from clevagent_server.grafana.alerts import AGENT_DEAD, RESTART_STORM, rule_key
from clevagent_server.grafana.uids import CONTACT_POINT_NAME

# Grafana's built-in contact point, present in every organisation. The policy falls back to
# it while no channel is configured, so that the tree stays valid and alerts stay visible.
DEFAULT_CONTACT_POINT = "grafana-default-email"

MUTE_TIMING_NAME = "weekly-maintenance"


@dataclass(frozen=True)
class Channel:
    """A notification channel and the environment variables that configure it."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


TELEGRAM = Channel("telegram", ("CLEVAGENT_TELEGRAM_BOT_TOKEN", "CLEVAGENT_TELEGRAM_CHAT_ID"),
                   ("CLEVAGENT_TELEGRAM_THREAD_ID",))
SLACK = Channel("slack", ("CLEVAGENT_SLACK_WEBHOOK_URL",))
DISCORD = Channel("discord", ("CLEVAGENT_DISCORD_WEBHOOK_URL",))
EMAIL = Channel("email", ("CLEVAGENT_ALERT_EMAILS",))

CHANNELS: tuple[Channel, ...] = (TELEGRAM, SLACK, DISCORD, EMAIL)


def configured_channels(environ: Mapping[str, str]) -> list[Channel]:
    """Return the channels whose required variables are all set and not blank."""
    return [c for c in CHANNELS if all(environ.get(name, "").strip() for name in c.required)]


def _value(name: str, environ: Mapping[str, str], inline: bool) -> str:
    """Return the secret itself (for push) or a ${VAR} reference (for files)."""
    return environ[name].strip() if inline else "${" + name + "}"


def _settings(channel: Channel, environ: Mapping[str, str], inline: bool) -> dict[str, object]:
    def value(name: str) -> str:
        return _value(name, environ, inline)

    if channel is TELEGRAM:
        settings: dict[str, object] = {
            "bottoken": value("CLEVAGENT_TELEGRAM_BOT_TOKEN"),
            "chatid": value("CLEVAGENT_TELEGRAM_CHAT_ID"),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
            "message": '{{ template "clevagent.telegram.message" . }}',
        }
        if environ.get("CLEVAGENT_TELEGRAM_THREAD_ID", "").strip():
            settings["message_thread_id"] = value("CLEVAGENT_TELEGRAM_THREAD_ID")
        return settings
    if channel is SLACK:
        return {
            "url": value("CLEVAGENT_SLACK_WEBHOOK_URL"),
            "title": '{{ template "clevagent.title" . }}',
            "text": '{{ template "clevagent.slack.message" . }}',
        }
    if channel is DISCORD:
        return {
            "url": value("CLEVAGENT_DISCORD_WEBHOOK_URL"),
            "title": '{{ template "clevagent.title" . }}',
            "message": '{{ template "clevagent.discord.message" . }}',
            "use_discord_username": False,
        }
    return {
        "addresses": value("CLEVAGENT_ALERT_EMAILS"),
        "singleEmail": True,
        "subject": '{{ template "clevagent.title" . }}',
        "message": '{{ template "clevagent.email.message" . }}',
    }


def receiver(channel: Channel, environ: Mapping[str, str], inline: bool) -> dict[str, object]:
    """Return one integration of the clevagent contact point."""
    return {
        "uid": f"clevagent-{channel.kind}",
        "type": channel.kind,
        "settings": _settings(channel, environ, inline),
        "disableResolveMessage": False,
    }


def contact_points_file(environ: Mapping[str, str]) -> dict[str, object] | None:
    """Return contact-points.yaml for the configured channels, or None when there are none."""
    channels = configured_channels(environ)
    if not channels:
        return None
    receivers = [receiver(channel, environ, inline=False) for channel in channels]
    return {
        "apiVersion": 1,
        "contactPoints": [{"orgId": 1, "name": CONTACT_POINT_NAME, "receivers": receivers}],
    }


def policy_tree(receiver_name: str) -> dict[str, object]:
    """Return the notification policy tree that routes every alert to receiver_name.

    Alerts are grouped per project and agent, so one agent's alerts arrive together. Dead
    agents are grouped per project instead: a host or network failure kills many agents at
    once, and one message per agent would run into the chat services' rate limits.
    """
    return {
        "receiver": receiver_name,
        "group_by": ["project", "agent"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            {
                "receiver": receiver_name,
                "object_matchers": [["clevagent_rule", "=", rule_key(AGENT_DEAD)]],
                "group_by": ["alertname", "project"],
                "continue": False,
            },
            {
                "receiver": receiver_name,
                "object_matchers": [["clevagent_rule", "=", rule_key(RESTART_STORM)]],
                "mute_time_intervals": [MUTE_TIMING_NAME],
                "continue": False,
            },
        ],
    }


def policy_receiver(environ: Mapping[str, str]) -> str:
    return CONTACT_POINT_NAME if configured_channels(environ) else DEFAULT_CONTACT_POINT


def policies_file(environ: Mapping[str, str]) -> dict[str, object]:
    tree = {"orgId": 1, **policy_tree(policy_receiver(environ))}
    return {"apiVersion": 1, "policies": [tree]}


def mute_timing() -> dict[str, object]:
    """Return the example mute timing: Sunday 02:00-04:00 UTC, for planned deployments.

    It mutes only restart storms, which a deployment causes on purpose.
    """
    return {
        "name": MUTE_TIMING_NAME,
        "time_intervals": [
            {
                "weekdays": ["sunday"],
                "times": [{"start_time": "02:00", "end_time": "04:00"}],
                "location": "UTC",
            }
        ],
    }


def mute_timings_file() -> dict[str, object]:
    return {"apiVersion": 1, "muteTimes": [{"orgId": 1, **mute_timing()}]}
