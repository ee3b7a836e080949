-- Queue a restart and record the 'restart_queued' event in one statement.
-- Parameters: project_id, agent_id, type, target, reason, details (jsonb).
WITH command AS (
    INSERT INTO restart_commands (project_id, agent_id, action, type, target, reason)
    VALUES (%(project_id)s, %(agent_id)s, 'restart', %(type)s, %(target)s, %(reason)s)
    RETURNING id
),
event AS (
    INSERT INTO agent_events (project_id, agent_id, type, severity, message, details)
    SELECT %(project_id)s, %(agent_id)s, 'restart_queued', 'warning', %(reason)s,
           %(details)s::jsonb || jsonb_build_object('command_id', command.id)
    FROM command
    RETURNING id
)
SELECT command.id AS command_id, event.id AS event_id FROM command, event
