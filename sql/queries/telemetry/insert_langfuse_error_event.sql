-- Parameters: project_id, agent_id, message, details (jsonb: trace_id, message).
INSERT INTO agent_events (project_id, agent_id, type, severity, message, details)
VALUES (%(project_id)s, %(agent_id)s, 'langfuse_error', 'warning', %(message)s, %(details)s)
RETURNING id
