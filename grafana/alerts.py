"""The alert rules, in Grafana's file provisioning format.

Each rule runs one SQL query (A) that returns a row only for what is in the alerting
condition right now. A row has one numeric column, and string columns that become the
alert instance's labels, so project, agent and agent_id give one instance per agent. B
reduces each row to its value and C fires when it is above zero.

An empty result means nothing is wrong, so noDataState is OK. A query error (the database
is down, a migration is half applied) keeps the last state instead of paging or resolving
everything: execErrState is KeepLast. Grafana shows both cases on the rule itself.
"""

from dataclasses import dataclass, field

from clevagent_server.grafana.sqlquery import TODAY_START_SQL
from clevagent_server.grafana.uids import AGENT_DASHBOARD_UID, DATASOURCE_UID, FOLDER_TITLE

RULE_GROUP = "clevagent"
EVALUATION_INTERVAL = "1m"
EXPRESSION_DATASOURCE_UID = "__expr__"

# Every agent-level rule links to the agent dashboard through the agent_id label.
AGENT_DASHBOARD_LINK = (
    "{{ externalURL }}/d/" + AGENT_DASHBOARD_UID + "?var-agent={{ $labels.agent_id }}"
)

# The labels every agent-level query returns; ORDER BY keeps the instances stable.
AGENT_LABELS = "p.name AS project, a.name AS agent, a.id::text AS agent_id"


@dataclass(frozen=True)
class AlertRule:
    """An alert rule: its query, how long the condition must hold, and its messages."""

    uid: str
    title: str
    sql: str
    summary: str
    description: str
    severity: str
    pending_for: str
    lookback_seconds: int = 600
    per_agent: bool = True
    labels: dict[str, str] = field(default_factory=dict)


AGENT_DEAD = AlertRule(
    uid="clevagent-agent-dead",
    title="Agent dead",
    sql=f"""
SELECT {AGENT_LABELS},
       extract(epoch FROM now() - coalesce(a.last_heartbeat_at, a.status_changed_at, a.created_at))
           AS silent_seconds
FROM agents a
JOIN projects p ON p.id = a.project_id
WHERE a.enabled AND a.status = 'dead' AND a.status_reason IS DISTINCT FROM 'shutdown'
ORDER BY 1, 2
""",
    summary="{{ $labels.project }}/{{ $labels.agent }} is dead: no heartbeat for "
    "{{ humanizeDuration $values.B.Value }}.",
    description="The detectors marked the agent dead because it stayed silent past its "
    "expected interval plus grace. An agent that shut down on request is not reported.",
    severity="critical",
    pending_for="1m",
)

AGENT_STUCK = AlertRule(
    uid="clevagent-agent-stuck",
    title="Agent stuck",
    sql=f"""
SELECT {AGENT_LABELS},
       extract(epoch FROM now() - coalesce(a.last_iteration_changed_at, a.created_at))
           AS seconds_without_progress
FROM agents a
JOIN projects p ON p.id = a.project_id
WHERE a.enabled AND a.status <> 'dead'
  AND (a.warning->>'type' = 'no_progress' OR a.status_reason = 'no progress')
ORDER BY 1, 2
""",
    summary="{{ $labels.project }}/{{ $labels.agent }} sends heartbeats but its iteration "
    "counter has not moved for {{ humanizeDuration $values.B.Value }}.",
    description="The process is alive but makes no progress (a hung call or a wait that "
    "never ends). Heartbeats alone would call it healthy.",
    severity="warning",
    pending_for="5m",
)

LOOP_DETECTED = AlertRule(
    uid="clevagent-loop-detected",
    title="Loop detected",
    sql=f"""
SELECT {AGENT_LABELS},
       a.warning->>'signal' AS signal,
       coalesce((a.warning->>'value')::double precision, 1) AS value
FROM agents a
JOIN projects p ON p.id = a.project_id
WHERE a.enabled AND a.warning->>'type' = 'loop'
  AND a.warning->>'signal' IS DISTINCT FROM 'token_spike'
ORDER BY 1, 2
""",
    summary="{{ $labels.project }}/{{ $labels.agent }} is looping: {{ $labels.signal }} at "
    "{{ humanize $values.B.Value }}.",
    description="A loop signal of the detectors is active: too many tool calls a minute "
    "(tool_call_rate) or the same message repeated (identical_messages).",
    severity="warning",
    pending_for="1m",
)

# Computed from the rollups, independent of the detectors: the tokens per minute of the
# last 5 minutes against the per-minute average of the rest of the hour, with the agent's
# token_spike_multiplier. Below 100 tokens a minute a spike is noise, not cost.
TOKEN_SPIKE = AlertRule(
    uid="clevagent-token-spike",
    title="Token spike",
    sql=f"""
WITH window_tokens AS (
    SELECT h.agent_id,
           coalesce(sum(h.tokens_used) FILTER (
               WHERE h.bucket >= $__timeTo()::timestamptz - interval '5 minutes'), 0) / 5.0
               AS recent_per_minute,
           coalesce(sum(h.tokens_used) FILTER (
               WHERE h.bucket < $__timeTo()::timestamptz - interval '5 minutes'), 0)
               / (extract(epoch FROM $__timeTo()::timestamptz - $__timeFrom()::timestamptz)
                  / 60 - 5) AS baseline_per_minute
    FROM heartbeats_1m h
    WHERE $__timeFilter(h.bucket)
    GROUP BY h.agent_id
)
SELECT {AGENT_LABELS},
       w.recent_per_minute / w.baseline_per_minute AS spike_ratio
FROM window_tokens w
JOIN agents a ON a.id = w.agent_id
JOIN projects p ON p.id = a.project_id
WHERE a.enabled
  AND w.baseline_per_minute > 0
  AND w.recent_per_minute >= 100
  AND w.recent_per_minute > a.token_spike_multiplier * w.baseline_per_minute
ORDER BY 1, 2
""",
    summary="{{ $labels.project }}/{{ $labels.agent }} uses {{ humanize $values.B.Value }} "
    "times its usual tokens a minute.",
    description="Tokens a minute over the last 5 minutes against the average of the "
    "55 minutes before, above the agent's token_spike_multiplier.",
    severity="warning",
    pending_for="0s",
    lookback_seconds=3600,
)

# Budgets reset at midnight in the project's budget timezone.
TODAY_START = TODAY_START_SQL

AGENT_BUDGET = AlertRule(
    uid="clevagent-agent-budget-exceeded",
    title="Agent daily budget exceeded",
    sql=f"""
SELECT {AGENT_LABELS},
       sum(h.cost_usd) / a.daily_budget_usd::double precision AS budget_used_ratio
FROM agents a
JOIN projects p ON p.id = a.project_id
JOIN heartbeats h ON h.agent_id = a.id AND h.time >= {TODAY_START}
WHERE a.enabled AND a.daily_budget_usd > 0
GROUP BY p.name, a.name, a.id, a.daily_budget_usd
HAVING sum(h.cost_usd) >= a.daily_budget_usd
ORDER BY 1, 2
""",
    summary="{{ $labels.project }}/{{ $labels.agent }} spent "
    "{{ humanizePercentage $values.B.Value }} of its daily budget.",
    description="Today's cost of the agent, in the project's budget timezone, reached its "
    "daily_budget_usd.",
    severity="warning",
    pending_for="0s",
)

PROJECT_BUDGET = AlertRule(
    uid="clevagent-project-budget-exceeded",
    title="Project daily budget exceeded",
    sql=f"""
SELECT p.name AS project,
       sum(h.cost_usd) / p.daily_budget_usd::double precision AS budget_used_ratio
FROM projects p
JOIN heartbeats h ON h.project_id = p.id AND h.time >= {TODAY_START}
WHERE p.daily_budget_usd > 0
GROUP BY p.name, p.daily_budget_usd
HAVING sum(h.cost_usd) >= p.daily_budget_usd
ORDER BY 1
""",
    summary="Project {{ $labels.project }} spent {{ humanizePercentage $values.B.Value }} "
    "of its daily budget.",
    description="Today's cost of all agents of the project, in its budget timezone, reached "
    "the project's daily_budget_usd.",
    severity="warning",
    pending_for="0s",
    per_agent=False,
)

# Three restart attempts in 15 minutes, or a runner that reports a crash loop or gave up.
RESTART_STORM = AlertRule(
    uid="clevagent-restart-storm",
    title="Restart storm",
    sql=f"""
SELECT {AGENT_LABELS},
       coalesce(e.details->>'target', a.restart_target, '') AS target,
       greatest(count(*) FILTER (WHERE e.type = 'restart_attempt'), 1) AS restart_attempts
FROM agent_events e
JOIN agents a ON a.id = e.agent_id
JOIN projects p ON p.id = a.project_id
WHERE $__timeFilter(e.time)
  AND e.type IN ('restart_attempt', 'crash_loop', 'gave_up')
GROUP BY p.name, a.name, a.id, 4
HAVING count(*) FILTER (WHERE e.type = 'restart_attempt') >= 3
    OR count(*) FILTER (WHERE e.type IN ('crash_loop', 'gave_up')) > 0
ORDER BY 1, 2
""",
    summary="{{ $labels.project }}/{{ $labels.agent }} ({{ $labels.target }}) was restarted "
    "{{ $values.B.Value }} times in 15 minutes or is crash-looping.",
    description="The runner keeps restarting the target. Restarts do not fix it: read the "
    "target's logs and the exit codes on the runner dashboard.",
    severity="critical",
    pending_for="0s",
    lookback_seconds=900,
)

# The detector writes a detector_runs row every cycle. Five minutes without a run that
# finished cleanly means no agent status, loop or budget is being updated. With no run yet,
# the clock starts at the oldest agent, so a fresh install with no agents stays quiet.
DETECTOR_STALLED = AlertRule(
    uid="clevagent-detector-stalled",
    title="Detector stalled",
    sql="""
SELECT seconds_since_last_run
FROM (
    SELECT extract(epoch FROM now() - coalesce(
               (SELECT max(finished_at) FROM detector_runs WHERE error IS NULL),
               (SELECT min(created_at) FROM agents))) AS seconds_since_last_run
) age
WHERE seconds_since_last_run > 300
""",
    summary="The detector cycle has not finished cleanly for "
    "{{ humanizeDuration $values.B.Value }}.",
    description="Agent status, loops and budgets are not being evaluated, so the other "
    "alerts are blind. Check the detectors service and its last error in detector_runs.",
    severity="critical",
    pending_for="2m",
    per_agent=False,
)

ALERT_RULES: tuple[AlertRule, ...] = (
    AGENT_DEAD,
    AGENT_STUCK,
    LOOP_DETECTED,
    TOKEN_SPIKE,
    AGENT_BUDGET,
    PROJECT_BUDGET,
    RESTART_STORM,
    DETECTOR_STALLED,
)


def rule_key(rule: AlertRule) -> str:
    """Return the value of the clevagent_rule label, which notification routes match."""
    return rule.uid.removeprefix("clevagent-").replace("-", "_")


def query_model(rule: AlertRule) -> dict[str, object]:
    return {
        "refId": "A",
        "datasource": {"type": "grafana-postgresql-datasource", "uid": DATASOURCE_UID},
        "rawSql": rule.sql.strip(),
        "format": "table",
        "rawQuery": True,
        "editorMode": "code",
        "intervalMs": 60000,
        "maxDataPoints": 43200,
    }


def expression_steps() -> list[dict[str, object]]:
    """Return B (last value of each row of A) and C (B above zero)."""
    expression_datasource = {"type": "__expr__", "uid": EXPRESSION_DATASOURCE_UID}
    reduce_step = {
        "refId": "B",
        "datasourceUid": EXPRESSION_DATASOURCE_UID,
        "relativeTimeRange": {"from": 0, "to": 0},
        "model": {
            "refId": "B",
            "type": "reduce",
            "expression": "A",
            "reducer": "last",
            "settings": {"mode": "dropNN"},
            "datasource": expression_datasource,
        },
    }
    threshold_step = {
        "refId": "C",
        "datasourceUid": EXPRESSION_DATASOURCE_UID,
        "relativeTimeRange": {"from": 0, "to": 0},
        "model": {
            "refId": "C",
            "type": "threshold",
            "expression": "B",
            "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
            "datasource": expression_datasource,
        },
    }
    return [reduce_step, threshold_step]


def rule_definition(rule: AlertRule) -> dict[str, object]:
    """Return one rule as the provisioning file and the HTTP API both take it."""
    annotations = {"summary": rule.summary, "description": rule.description}
    if rule.per_agent:
        annotations["agent_dashboard"] = AGENT_DASHBOARD_LINK
    query_step = {
        "refId": "A",
        "datasourceUid": DATASOURCE_UID,
        "relativeTimeRange": {"from": rule.lookback_seconds, "to": 0},
        "model": query_model(rule),
    }
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [query_step, *expression_steps()],
        "noDataState": "OK",
        "execErrState": "KeepLast",
        "for": rule.pending_for,
        "labels": {"severity": rule.severity, "clevagent_rule": rule_key(rule), **rule.labels},
        "annotations": annotations,
        "isPaused": False,
    }


def rules_file() -> dict[str, object]:
    """Return the content of provisioning/alerting/rules.yaml."""
    group = {
        "orgId": 1,
        "name": RULE_GROUP,
        "folder": FOLDER_TITLE,
        "interval": EVALUATION_INTERVAL,
        "rules": [rule_definition(rule) for rule in ALERT_RULES],
    }
    return {"apiVersion": 1, "groups": [group]}
