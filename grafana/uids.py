"""The fixed uids that tie the generated Grafana objects together.

Dashboards, alert rules and links refer to each other by these values, so they are part
of the contract with every Grafana the objects were pushed to: changing one orphans the
copies already there.
"""

DATASOURCE_UID = "clevagent-postgres"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_NAME = "ClevAgent"

FOLDER_UID = "clevagent"
FOLDER_TITLE = "ClevAgent"

FLEET_DASHBOARD_UID = "clevagent-fleet"
AGENT_DASHBOARD_UID = "clevagent-agent"
COST_DASHBOARD_UID = "clevagent-cost"
EVENTS_DASHBOARD_UID = "clevagent-events"
RUNNER_DASHBOARD_UID = "clevagent-runner"

CONTACT_POINT_NAME = "clevagent"
